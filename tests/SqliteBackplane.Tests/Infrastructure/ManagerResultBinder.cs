using Microsoft.AspNetCore.SignalR;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// Parses a client's completion the way SignalR's connection handler does: the result type comes from the
/// lifetime manager's <see cref="HubLifetimeManager{THub}.TryGetReturnType"/>.
/// </summary>
internal sealed class ManagerResultBinder<THub>(HubLifetimeManager<THub> manager) : IInvocationBinder where THub : Hub
{
    public IReadOnlyList<Type> GetParameterTypes(string methodName) =>
        throw new InvalidOperationException("Only completions are parsed with this binder.");

    public Type GetReturnType(string invocationId) =>
        manager.TryGetReturnType(invocationId, out var type)
            ? type
            : throw new InvalidOperationException($"The manager knows no pending invocation '{invocationId}'.");

    public Type GetStreamItemType(string streamId) =>
        throw new InvalidOperationException("Only completions are parsed with this binder.");
}

using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace SqliteBackplane;

/// <summary>
/// A <see cref="HubLifetimeManager{THub}"/> that routes every send and group change through one ordered log in a
/// SQLite file, so that all processes using the same file act as one SignalR server.
/// </summary>
/// <typeparam name="THub">The hub type.</typeparam>
public sealed class SqliteHubLifetimeManager<THub> : HubLifetimeManager<THub>, IDisposable where THub : Hub
{
    /// <summary>Creates a manager that serializes messages with every registered hub protocol.</summary>
    public SqliteHubLifetimeManager(ILogger<SqliteHubLifetimeManager<THub>> logger, IOptions<SqliteBackplaneOptions> options, IHubProtocolResolver hubProtocolResolver)
        : this(logger, options, hubProtocolResolver, globalHubOptions: null, hubOptions: null)
    {
    }

    /// <summary>Creates a manager that serializes messages with the hub protocols the hub options allow.</summary>
    public SqliteHubLifetimeManager(ILogger<SqliteHubLifetimeManager<THub>> logger, IOptions<SqliteBackplaneOptions> options, IHubProtocolResolver hubProtocolResolver,
        IOptions<HubOptions>? globalHubOptions, IOptions<HubOptions<THub>>? hubOptions)
    {
        throw new NotImplementedException();
    }

    /// <inheritdoc />
    public override Task OnConnectedAsync(HubConnectionContext connection) => throw new NotImplementedException();
    /// <inheritdoc />
    public override Task OnDisconnectedAsync(HubConnectionContext connection) => throw new NotImplementedException();
    /// <inheritdoc />
    public override Task SendAllAsync(string methodName, object?[] args, CancellationToken cancellationToken = default) => throw new NotImplementedException();
    /// <inheritdoc />
    public override Task SendAllExceptAsync(string methodName, object?[] args, IReadOnlyList<string> excludedConnectionIds, CancellationToken cancellationToken = default) => throw new NotImplementedException();
    /// <inheritdoc />
    public override Task SendConnectionAsync(string connectionId, string methodName, object?[] args, CancellationToken cancellationToken = default) => throw new NotImplementedException();
    /// <inheritdoc />
    public override Task SendConnectionsAsync(IReadOnlyList<string> connectionIds, string methodName, object?[] args, CancellationToken cancellationToken = default) => throw new NotImplementedException();
    /// <inheritdoc />
    public override Task SendGroupAsync(string groupName, string methodName, object?[] args, CancellationToken cancellationToken = default) => throw new NotImplementedException();
    /// <inheritdoc />
    public override Task SendGroupsAsync(IReadOnlyList<string> groupNames, string methodName, object?[] args, CancellationToken cancellationToken = default) => throw new NotImplementedException();
    /// <inheritdoc />
    public override Task SendGroupExceptAsync(string groupName, string methodName, object?[] args, IReadOnlyList<string> excludedConnectionIds, CancellationToken cancellationToken = default) => throw new NotImplementedException();
    /// <inheritdoc />
    public override Task SendUserAsync(string userId, string methodName, object?[] args, CancellationToken cancellationToken = default) => throw new NotImplementedException();
    /// <inheritdoc />
    public override Task SendUsersAsync(IReadOnlyList<string> userIds, string methodName, object?[] args, CancellationToken cancellationToken = default) => throw new NotImplementedException();
    /// <inheritdoc />
    public override Task AddToGroupAsync(string connectionId, string groupName, CancellationToken cancellationToken = default) => throw new NotImplementedException();
    /// <inheritdoc />
    public override Task RemoveFromGroupAsync(string connectionId, string groupName, CancellationToken cancellationToken = default) => throw new NotImplementedException();
    /// <inheritdoc />
    public override Task<T> InvokeConnectionAsync<T>(string connectionId, string methodName, object?[] args, CancellationToken cancellationToken = default) => throw new NotImplementedException();
    /// <inheritdoc />
    public override Task SetConnectionResultAsync(string connectionId, CompletionMessage result) => throw new NotImplementedException();
    /// <inheritdoc />
    public override bool TryGetReturnType(string invocationId, [NotNullWhen(true)] out Type? type) => throw new NotImplementedException();

    /// <summary>Releases this manager's hold on the shared per-file backplane node.</summary>
    public void Dispose() { }
}

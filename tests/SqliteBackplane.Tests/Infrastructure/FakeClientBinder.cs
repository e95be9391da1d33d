using Microsoft.AspNetCore.SignalR;
using SqliteBackplane.TestServer;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>Tells the hub protocol the parameter types of the client methods the test hubs call.</summary>
internal sealed class FakeClientBinder : IInvocationBinder
{
    public static FakeClientBinder Instance { get; } = new();

    public IReadOnlyList<Type> GetParameterTypes(string methodName) => methodName switch
    {
        ClientMethods.Receive => [typeof(string)],
        ClientMethods.ReceivePayload => [typeof(TestPayload)],
        ClientMethods.Compute => [typeof(int)],
        // The resume mechanism's reserved methods (docs/resume.md).
        "sqlitebackplane:token" => [typeof(string), typeof(long)],
        "sqlitebackplane:pos" => [typeof(long)],
        "sqlitebackplane:gap" => [typeof(string)],
        _ => throw new InvalidOperationException($"The fake client has no method '{methodName}'."),
    };

    public Type GetReturnType(string invocationId) =>
        throw new InvalidOperationException("The fake client never invokes anything, so it expects no completions.");

    public Type GetStreamItemType(string streamId) =>
        throw new InvalidOperationException("The fake client does not stream.");
}

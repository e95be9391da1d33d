using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;

namespace SqliteBackplane.Tests.Core;

/// <summary>Builds managers without a host. Each call is its own node, as a separate process would be.</summary>
internal static class DirectManagers
{
    public static SqliteHubLifetimeManager<TestHub> Create(TempDatabase database, Action<SqliteBackplaneOptions>? configure = null) =>
        Create<TestHub>(database, configure);

    public static SqliteHubLifetimeManager<THub> Create<THub>(TempDatabase database, Action<SqliteBackplaneOptions>? configure = null) where THub : Hub
    {
        var options = new SqliteBackplaneOptions
        {
            ConnectionString = database.ConnectionString,
            HeartbeatInterval = TimeSpan.FromSeconds(1),
            NodeTimeout = TimeSpan.FromSeconds(5),
        };
        configure?.Invoke(options);
        return new SqliteHubLifetimeManager<THub>(NullLogger<SqliteHubLifetimeManager<THub>>.Instance, Options.Create(options), new TestProtocolResolver());
    }
}

/// <summary>Resolves the JSON protocol and the test server's protocols, as a host with AddNewtonsoftJsonProtocol would.</summary>
internal sealed class TestProtocolResolver : IHubProtocolResolver
{
    public IReadOnlyList<IHubProtocol> AllProtocols { get; } = [new JsonHubProtocol(), .. TestHubProtocols.ServerSide()];

    public IHubProtocol? GetProtocol(string protocolName, IReadOnlyList<string>? supportedProtocols) =>
        AllProtocols.FirstOrDefault(p => p.Name == protocolName && (supportedProtocols is null || supportedProtocols.Contains(p.Name)));
}

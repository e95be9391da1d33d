using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SqliteBackplane.TestServer;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// Builds SQLite managers without a host, each from its own options instance: each call is its own node, as a
/// separate process would be.
/// </summary>
internal static class DirectManagers
{
    /// <summary>A manager of <see cref="TestHub"/> with test timings; see <see cref="Create{THub}"/>.</summary>
    public static SqliteHubLifetimeManager<TestHub> Create(TempDatabase database, Action<SqliteBackplaneOptions>? configure = null) =>
        Create<TestHub>(database, configure);

    /// <summary>
    /// A manager with test timings (heartbeat 1 s, node timeout 5 s, so reaping is quick) and the JSON protocol beside
    /// the test server's, then <paramref name="configure"/>.
    /// </summary>
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

    /// <summary>A manager as a test server runs it: the product's default options and the test server's protocols only.</summary>
    public static SqliteHubLifetimeManager<TestHub> CreateAsServer(TempDatabase database) =>
        new(NullLogger<SqliteHubLifetimeManager<TestHub>>.Instance,
            Options.Create(new SqliteBackplaneOptions { ConnectionString = database.ConnectionString }),
            new TestProtocolResolver(TestHubProtocols.ServerSide()));
}

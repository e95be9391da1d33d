using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;

namespace SqliteBackplane.Tests.ManagerConformance;

/// <summary>Builds SQLite managers directly, each from its own options instance, as separate servers would be.</summary>
internal static class SqliteManagers
{
    public static SqliteHubLifetimeManager<TestHub> Create(TempDatabase database) =>
        new(NullLogger<SqliteHubLifetimeManager<TestHub>>.Instance,
            Options.Create(new SqliteBackplaneOptions { ConnectionString = database.ConnectionString }),
            new ServerProtocolResolver());

    /// <summary>The protocols a test server registers.</summary>
    private sealed class ServerProtocolResolver : IHubProtocolResolver
    {
        public IReadOnlyList<IHubProtocol> AllProtocols { get; } = TestHubProtocols.ServerSide();

        public IHubProtocol? GetProtocol(string protocolName, IReadOnlyList<string>? supportedProtocols) =>
            AllProtocols.FirstOrDefault(p => p.Name == protocolName);
    }
}

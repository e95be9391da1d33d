using Microsoft.AspNetCore.SignalR;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;

namespace SqliteBackplane.Tests.ManagerConformance;

/// <summary>The manager contract on one SQLite manager.</summary>
public sealed class SingleSqliteManagerConformanceTests : ManagerConformanceTests
{
    protected override (HubLifetimeManager<TestHub> First, HubLifetimeManager<TestHub> Second) CreateManagers()
    {
        var manager = DirectManagers.CreateAsServer(Database);
        return (manager, manager);
    }
}

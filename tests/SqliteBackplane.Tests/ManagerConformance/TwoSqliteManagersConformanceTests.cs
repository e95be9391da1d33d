using Microsoft.AspNetCore.SignalR;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;

namespace SqliteBackplane.Tests.ManagerConformance;

/// <summary>The manager contract on two SQLite managers in this process on one file, acting as two servers.</summary>
public sealed class TwoSqliteManagersConformanceTests : ManagerConformanceTests
{
    protected override (HubLifetimeManager<TestHub> First, HubLifetimeManager<TestHub> Second) CreateManagers() =>
        (DirectManagers.CreateAsServer(Database), DirectManagers.CreateAsServer(Database));
}

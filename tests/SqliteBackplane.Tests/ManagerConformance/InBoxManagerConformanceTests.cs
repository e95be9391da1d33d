using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Logging.Abstractions;
using SqliteBackplane.TestServer;

namespace SqliteBackplane.Tests.ManagerConformance;

/// <summary>
/// The manager contract against SignalR's in-box DefaultHubLifetimeManager (one server): it checks that the
/// suite's expectations are Microsoft's.
/// </summary>
public sealed class InBoxManagerConformanceTests : ManagerConformanceTests
{
    protected override (HubLifetimeManager<TestHub> First, HubLifetimeManager<TestHub> Second) CreateManagers()
    {
        var manager = new DefaultHubLifetimeManager<TestHub>(NullLogger<DefaultHubLifetimeManager<TestHub>>.Instance);
        return (manager, manager);
    }
}

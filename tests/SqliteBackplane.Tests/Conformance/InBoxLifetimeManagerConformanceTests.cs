using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Conformance;

/// <summary>
/// The conformance suite on one server with SignalR's in-box DefaultHubLifetimeManager and no backplane. It checks
/// the suite itself: every expectation (payloads, exception types and messages) matches Microsoft's own semantics.
/// </summary>
public sealed class InBoxLifetimeManagerConformanceTests(ITestOutputHelper output) : ConformanceTests(output)
{
    protected override int ServerCount => 1;

    protected override bool UseBackplane => false;

    protected override async Task<ITestServerInstance> StartServerCoreAsync(TestServerSettings settings, string name) =>
        await InProcessServer.StartAsync(settings, name, InProcessHosting.TestHost, Output);
}

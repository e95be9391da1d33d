using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Conformance;

/// <summary>
/// The conformance suite on two Kestrel hosts in this process, each with its own DI container, on one file.
/// </summary>
public sealed class TwoInProcessServersConformanceTests(ITestOutputHelper output) : ConformanceTests(output)
{
    protected override int ServerCount => 2;

    protected override async Task<ITestServerInstance> StartServerCoreAsync(TestServerSettings settings, string name) =>
        await InProcessServer.StartAsync(settings, name, InProcessHosting.Kestrel, Output);
}

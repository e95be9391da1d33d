using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Conformance;

/// <summary>The conformance suite on one in-process server (TestHost) with the SQLite backplane.</summary>
public sealed class SingleServerConformanceTests(ITestOutputHelper output) : ConformanceTests(output)
{
    protected override int ServerCount => 1;

    protected override async Task<ITestServerInstance> StartServerCoreAsync(TestServerSettings settings, string name) =>
        await InProcessServer.StartAsync(settings, name, InProcessHosting.TestHost, Output);
}

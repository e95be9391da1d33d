using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Conformance;

/// <summary>The conformance suite on two TestServer OS processes on one file, with real .NET clients over TCP.</summary>
[Collection(MultiProcessCollection.Name)]
public sealed class TwoProcessesConformanceTests(ITestOutputHelper output) : ConformanceTests(output)
{
    protected override int ServerCount => 2;

    protected override async Task<ITestServerInstance> StartServerCoreAsync(TestServerSettings settings, string name) =>
        await ServerProcess.StartAsync(settings, name, Output);
}

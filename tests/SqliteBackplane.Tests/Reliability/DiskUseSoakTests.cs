using System.Diagnostics;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Reliability;

/// <summary>
/// Runs for weeks (issue 17 item 4): at the chaos test's load (three processes, 60 clients, about 600 sends a second,
/// every process's reader busy all the time) with the product's default timings and <see cref="SqliteBackplaneOptions.MaxWalSize"/>,
/// the -wal file stays under its bound and each server's resident memory stays flat after warm-up. RSS and the
/// database's file sizes are sampled every second and written to <c>soak/disk-use-*.csv</c> beside the test assembly
/// (the figures in docs/operations.md, "Disk use over weeks").
/// CI: 45 s. Long run: <c>SQLITEBACKPLANE_SOAK=long dotnet test tests/SqliteBackplane.Tests -c Release --filter FullyQualifiedName~DiskUseSoakTests</c> (10 minutes).
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
[Trait(TestCategory.Name, TestCategory.Soak)]
public sealed class DiskUseSoakTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    private const int Servers = 3;
    private const int ClientsPerServer = 20;
    private static readonly TimeSpan SendInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>RSS may grow after warm-up by at most this fraction of the warmed-up value plus this many bytes.</summary>
    private const double MemoryGrowthFraction = 0.25;
    private const long MemoryGrowthSlackBytes = 64L * 1024 * 1024;

    [Fact]
    public async Task Wal_and_memory_stay_bounded_under_steady_sends_from_three_processes()
    {
        var longRun = Environment.GetEnvironmentVariable("SQLITEBACKPLANE_SOAK") == "long";
        var duration = longRun ? TimeSpan.FromMinutes(10) : TimeSpan.FromSeconds(45);
        var defaults = new SqliteBackplaneOptions();
        var settings = new TestServerSettings
        {
            DatabasePath = Database.Path,
            HeartbeatInterval = defaults.HeartbeatInterval,
            NodeTimeout = defaults.NodeTimeout,
        };
        var (servers, clients) = await StartFleetAsync(settings, "soak", Servers, ClientsPerServer);

        var load = new SteadySends(clients, SendInterval, payloadChars: 200);
        var sampler = new DiskAndMemorySampler(Database.Path, servers.Select((s, i) => ($"soak-{i}", s.ProcessId)).ToList(), TimeSpan.FromSeconds(1));
        var run = Stopwatch.StartNew();
        using (var stop = new CancellationTokenSource(duration))
        {
            var sampling = sampler.RunAsync(stop.Token);
            await load.RunAsync(stop.Token);
            await sampling;
        }

        await Eventually.BecomesTrueAsync(() => load.Received >= load.Acknowledged, TimeSpan.FromSeconds(30),
            $"every acknowledged send to arrive ({load.Received} of {load.Acknowledged})");
        var csv = sampler.WriteCsv(Path.Combine(AppContext.BaseDirectory, "soak", $"disk-use-{(longRun ? "long" : "ci")}-{DateTime.UtcNow:yyyyMMdd-HHmmss}.csv"));
        Output.WriteLine($"Ran {run.Elapsed.TotalSeconds:0} s: {load.Acknowledged} sends acknowledged ({load.Acknowledged / run.Elapsed.TotalSeconds:0}/s), {load.Received} received, {load.Failures.Count} failed.");
        Output.WriteLine(sampler.FilesReport());
        foreach (var line in sampler.MemoryReport(MemoryGrowthFraction, MemoryGrowthSlackBytes, out _))
        {
            Output.WriteLine(line);
        }

        Output.WriteLine($"Samples: {csv}");

        Assert.True(load.Failures.IsEmpty, $"{load.Failures.Count} sends failed, first: {load.Failures.FirstOrDefault()}");
        Assert.Equal(load.Acknowledged, load.Received);
        Assert.True(sampler.MaxWalBytes <= defaults.MaxWalSize,
            $"The -wal file reached {DiskAndMemorySampler.Mib(sampler.MaxWalBytes)}, beyond MaxWalSize {DiskAndMemorySampler.Mib(defaults.MaxWalSize)}. {sampler.FilesReport()}");
        sampler.MemoryReport(MemoryGrowthFraction, MemoryGrowthSlackBytes, out var memoryProblem);
        Assert.True(memoryProblem is null, memoryProblem);
        foreach (var server in servers)
        {
            ServerLogs.AssertNoErrors(server);
            Assert.DoesNotContain("over MaxWalSize", server.Output, StringComparison.Ordinal);
        }
    }
}

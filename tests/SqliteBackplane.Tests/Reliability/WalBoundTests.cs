using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Reliability;

/// <summary>
/// Disk use stays bounded under steady load (issue 17 item 4): three server processes, each with connected clients
/// and a reader that is busy all the time, and a steady stream of sends; the -wal file must stay under
/// <see cref="SqliteBackplaneOptions.MaxWalSize"/> because the log starts over from its beginning again and again.
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
public sealed class WalBoundTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    private const int Servers = 3;
    private const int ClientsPerServer = 20;
    private static readonly TimeSpan SendInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(40);

    [Fact]
    public async Task The_wal_file_stays_under_its_bound_while_three_processes_read_and_clients_send_steadily()
    {
        // Small enough that the file outgrows it within seconds when the log never starts over (before the fix it reached
        // 18 MiB in 15 s at this load), twice the smallest allowed.
        const long maxWalBytes = 8L * 1024 * 1024;
        var settings = new TestServerSettings
        {
            DatabasePath = Database.Path,
            HeartbeatInterval = TimeSpan.FromSeconds(2),
            NodeTimeout = TimeSpan.FromSeconds(10),
            MaxWalSize = maxWalBytes,
        };
        var (servers, clients) = await StartFleetAsync(settings, "wal", Servers, ClientsPerServer);

        var load = new SteadySends(clients, SendInterval, payloadChars: 200);
        var sampler = new DiskAndMemorySampler(Database.Path, servers.Select(s => (s.Name, s.ProcessId)).ToList(), TimeSpan.FromSeconds(1));
        using var stop = new CancellationTokenSource(Duration);
        var sampling = sampler.RunAsync(stop.Token);
        await load.RunAsync(stop.Token);
        await sampling;

        foreach (var sample in sampler.Samples)
        {
            Output.WriteLine($"{sample.Seconds,5:0.0} s  {sample.Files}");
        }

        Output.WriteLine($"Sends acknowledged {load.Acknowledged}, received {load.Received}, failed {load.Failures.Count}. {sampler.FilesReport()}");
        Assert.True(load.Failures.IsEmpty, $"{load.Failures.Count} sends failed, first: {load.Failures.FirstOrDefault()}");
        Assert.True(load.Acknowledged > Duration.TotalSeconds * 100, $"Only {load.Acknowledged} sends in {Duration.TotalSeconds} s: the load did not run.");
        Assert.True(sampler.MaxWalBytes <= maxWalBytes,
            $"The -wal file reached {DiskAndMemorySampler.Mib(sampler.MaxWalBytes)}, beyond its bound {DiskAndMemorySampler.Mib(maxWalBytes)}. {sampler.FilesReport()}");
    }
}

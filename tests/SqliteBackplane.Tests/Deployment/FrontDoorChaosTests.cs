using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Http.Connections;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Deployment;

/// <summary>
/// Chaos behind the front door (issue 17, item 5): three server processes and a sending worker process; every 2 to 4 s
/// one random server is killed with SIGKILL or stopped with SIGTERM, then started again on its port. Resume clients
/// over every transport listen through the front door, .NET ones here and Node ones (@microsoft/signalr with the npm
/// helper, tests/e2e/listen.mjs); each must receive every message addressed to it exactly once, in order, with no gap.
/// CI: 30 s, 12 .NET and 6 Node clients, 100 messages a second. With <c>SQLITEBACKPLANE_SOAK=long</c>: 90 s, 60 clients
/// (40 .NET, 20 Node), 300 messages a second. The -wal file's size is sampled every second; its maximum, the outage per
/// client and the deliveries are printed, never asserted as timings.
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class FrontDoorChaosTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    private readonly Lock _restartLock = new();

    private static readonly bool Long = Environment.GetEnvironmentVariable("SQLITEBACKPLANE_SOAK") == "long";
    private static readonly int DotnetReceivers = Long ? 40 : 12;
    private static readonly int NodeReceivers = Long ? 20 : 6;
    private const int NodeReceiversPerProcess = 20;
    private static readonly int Rate = Long ? 300 : 100;
    private static readonly TimeSpan Duration = Long ? TimeSpan.FromSeconds(90) : TimeSpan.FromSeconds(30);

    private static readonly HttpTransportType[] Transports = [HttpTransportType.WebSockets, HttpTransportType.ServerSentEvents, HttpTransportType.LongPolling];

    [Theory]
    [InlineData(FrontDoorKind.Nginx)]
    [InlineData(FrontDoorKind.Yarp)]
    public async Task Random_kills_and_restarts_behind_the_front_door_lose_duplicate_and_skip_nothing(FrontDoorKind kind)
    {
        var seed = Environment.TickCount;
        var random = new Random(seed);
        var settings = new TestServerSettings { DatabasePath = Database.Path, EnableResume = true, ShutdownTimeout = TimeSpan.FromSeconds(10) };
        var servers = new List<ServerProcess>();
        for (var n = 1; n <= 3; n++)
        {
            servers.Add(await StartAsync(settings with { RouteKey = $"p{n}" }, $"p{n}"));
        }
        var frontDoor = DisposeAfterTest(await FrontDoors.StartAsync(kind, [.. servers.Select(server => new Backend(server.Settings.RouteKey!, server.Port))]));
        var hub = new UriBuilder(frontDoor.Address) { Path = HubPaths.Test }.Uri;

        var users = DotnetReceivers + NodeReceivers;
        var local = new List<ResumeReceiver>();
        for (var n = 0; n < DotnetReceivers; n++)
        {
            var (receiver, client) = await ResumeReceiver.ConnectAsync(hub, n, users, Transports[n % Transports.Length], $"u{n} through {kind}");
            DisposeAfterTest(client);
            local.Add(receiver);
        }
        var remote = Enumerable.Range(DotnetReceivers, NodeReceivers).Select(n => ResumeReceiver.Remote(n, users, Transports[n % Transports.Length])).ToList();
        var node = await NodeListeners.StartAsync(frontDoor.Address, remote, NodeReceiversPerProcess, Output);
        var receivers = local.Concat(remote).ToList();

        // The worker: a process of its own that sends through IHubContext, like a background service of the app.
        var worker = await StartAsync(settings with { PacedSendRate = Rate, PacedSendUsers = users }, "worker");
        var sending = Stopwatch.StartNew();
        using var stopSampling = new CancellationTokenSource();
        var walSamples = new List<long>();
        var sampling = SampleWalAsync(walSamples, stopSampling.Token);
        await Eventually.BecomesTrueAsync(() => local.All(r => r.Count > 0), TimeSpan.FromSeconds(60), "every .NET client to receive the worker's messages");

        // A fault every 2-4 s; the victim restarts in the background (on its port, until healthy) while the chaos goes
        // on, so a fault can come while another process is still starting. Never one that is still starting itself.
        var events = new List<string>();
        var restarting = new Task[servers.Count];
        Array.Fill(restarting, Task.CompletedTask);
        var chaos = Stopwatch.StartNew();
        var chaosStart = Stopwatch.GetTimestamp();
        while (chaos.Elapsed < Duration)
        {
            // The chaos's own pace, not a wait for anything.
            await Task.Delay(TimeSpan.FromMilliseconds(random.Next(2000, 4000)));
            var ready = Enumerable.Range(0, servers.Count).Where(i => restarting[i].IsCompleted).ToList();
            if (ready.Count == 0)
            {
                await Task.WhenAny(restarting);
                continue;
            }
            var index = ready[random.Next(ready.Count)];
            await restarting[index];
            var victim = servers[index];
            if (random.Next(2) == 0)
            {
                await victim.KillAsync();
                events.Add($"{chaos.Elapsed.TotalSeconds:0.0}s kill -9 {victim.Settings.RouteKey}");
            }
            else
            {
                var stopwatch = Stopwatch.StartNew();
                var exitCode = await victim.StopAsync();
                Assert.True(exitCode == 0, $"{victim.Name} exited with {exitCode} after SIGTERM.{Environment.NewLine}{victim.Output}");
                events.Add($"{chaos.Elapsed.TotalSeconds:0.0}s SIGTERM {victim.Settings.RouteKey} ({stopwatch.Elapsed.TotalMilliseconds:0} ms)");
            }
            restarting[index] = RestartAsync(servers, index, victim);
        }
        await Task.WhenAll(restarting);
        var healthyAt = Stopwatch.GetTimestamp();
        await Eventually.BecomesTrueAsync(() => local.All(r => r.LastAt > healthyAt), TimeSpan.FromSeconds(60), "every .NET client to receive after the last fault");

        await ResumeReceiver.StopSendingAsync(worker);
        var seconds = sending.Elapsed.TotalSeconds;
        var (sent, workerNote) = ResumeReceiver.SentBy(worker);
        var workerExit = await worker.StopAsync();
        Assert.True(workerExit == 0, $"The worker exited with {workerExit}.{Environment.NewLine}{worker.Output}");
        await node.FinishAsync();
        await stopSampling.CancelAsync();
        await sampling;

        var problems = new List<string>();
        foreach (var receiver in receivers)
        {
            if (await receiver.ProblemAsync(sent, TimeSpan.FromSeconds(60)) is { } problem)
            {
                problems.Add(problem);
            }
        }
        var tallies = receivers.Select(r => r.Tally(sent)).ToList();
        Output.WriteLine($"{kind}, seed {seed}: {string.Join("; ", events)}");
        Output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{kind}: {sent} sends in {seconds:0.0} s ({sent / seconds:0}/s{(workerNote.Length > 0 ? ", " + workerNote : "")}) over {events.Count} faults ({events.Count(e => e.Contains("kill -9", StringComparison.Ordinal))} kill -9), " +
            $"{tallies.Sum(t => t.Count)} deliveries to {DotnetReceivers} .NET and {NodeReceivers} Node clients; lost {tallies.Sum(t => t.Lost)}, " +
            $"duplicated or late {tallies.Sum(t => t.Disorder)}, gaps {receivers.Sum(r => r.Gaps.Count)}; reconnects {receivers.Sum(r => r.Reconnects)}"));
        Output.WriteLine($"  longest silence per client: {ResumeReceiver.OutageSummary(receivers)}; .NET {ResumeReceiver.OutageSummary(local)}; Node {ResumeReceiver.OutageSummary(remote)}");
        Output.WriteLine($"  when the .NET clients' longest silences were (after the chaos began, most common first): {ResumeReceiver.WhenSilencesHappened(local, chaosStart)}");
        Output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  -wal file: max {DiskAndMemorySampler.Mib(walSamples.DefaultIfEmpty(0).Max())}, at the end {DiskAndMemorySampler.Mib(walSamples.LastOrDefault())} ({walSamples.Count} samples, one a second)"));
        Assert.True(problems.Count == 0, $"{problems.Count} clients lost, duplicated, reordered or were told of a gap:{Environment.NewLine}{string.Join(Environment.NewLine, problems.Take(20))}");
    }

    /// <summary>The -wal file's size once a second (this process opens no SQLite connection to the file: <see cref="WalFiles"/>).</summary>
    private async Task SampleWalAsync(List<long> samples, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            do
            {
                samples.Add(WalFiles.Read(Database.Path).WalBytes);
            }
            while (await timer.WaitForNextTickAsync(stop));
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task RestartAsync(List<ServerProcess> servers, int index, ServerProcess stopped)
    {
        var restarted = await ServerProcess.StartAsync(stopped.Settings with { Port = 0 }, $"{stopped.Settings.RouteKey} restarted", Output, stopped.Port);
        // Two restarts can finish at once; the list of what the test disposes is not thread-safe.
        lock (_restartLock)
        {
            DisposeAfterTest(restarted);
        }
        await ResumeReceiver.WaitUntilHealthyAsync(restarted);
        servers[index] = restarted;
    }
}

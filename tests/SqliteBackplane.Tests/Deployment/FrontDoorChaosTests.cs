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
/// over every transport listen through the front door; each must receive every message addressed to it exactly once,
/// in order, with no gap. 30 s here; 90 s with <c>SQLITEBACKPLANE_SOAK=long</c>.
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class FrontDoorChaosTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    private const int Receivers = 12;

    private static readonly HttpTransportType[] Transports = [HttpTransportType.WebSockets, HttpTransportType.ServerSentEvents, HttpTransportType.LongPolling];

    private static TimeSpan Duration =>
        Environment.GetEnvironmentVariable("SQLITEBACKPLANE_SOAK") == "long" ? TimeSpan.FromSeconds(90) : TimeSpan.FromSeconds(30);

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
        var senderProcess = await StartAsync(settings, "sender");
        var sender = await ConnectAsync(senderProcess, "sender");

        var receivers = new List<ResumeReceiver>();
        for (var n = 0; n < Receivers; n++)
        {
            var (receiver, client) = await ResumeReceiver.ConnectAsync(hub, $"r{n}", Transports[n % Transports.Length], $"r{n} through {kind}");
            DisposeAfterTest(client);
            receivers.Add(receiver);
        }

        using var stopSending = new CancellationTokenSource();
        var sent = 0;
        var sending = Task.Run(async () =>
        {
            while (!stopSending.IsCancellationRequested)
            {
                await ResumeReceiver.SendOneAsync(sender, sent++, receivers);
                await Task.Delay(5, CancellationToken.None);
            }
        }, CancellationToken.None);

        var events = new List<string>();
        var chaos = Stopwatch.StartNew();
        while (chaos.Elapsed < Duration)
        {
            // The chaos's own pace (2-4 s between faults), not a wait for anything.
            await Task.Delay(TimeSpan.FromMilliseconds(random.Next(2000, 4000)));
            var index = random.Next(servers.Count);
            var victim = servers[index];
            if (random.Next(2) == 0)
            {
                await victim.KillAsync();
                events.Add($"{chaos.Elapsed.TotalSeconds:0.0}s kill -9 {victim.Settings.RouteKey}");
            }
            else
            {
                var exitCode = await victim.StopAsync();
                Assert.True(exitCode == 0, $"{victim.Name} exited with {exitCode} after SIGTERM.{Environment.NewLine}{victim.Output}");
                events.Add($"{chaos.Elapsed.TotalSeconds:0.0}s SIGTERM {victim.Settings.RouteKey}");
            }
            servers[index] = await StartAsync(victim.Settings with { Port = 0 }, $"{victim.Settings.RouteKey} restarted", port: victim.Port);
            await ResumeReceiver.WaitUntilHealthyAsync(servers[index]);
        }

        var sentBeforeEnd = Volatile.Read(ref sent);
        await Eventually.BecomesTrueAsync(() => Volatile.Read(ref sent) > sentBeforeEnd + 50, TimeSpan.FromSeconds(30), "the sender to send after the last fault");
        await stopSending.CancelAsync();
        await sending.DefaultTimeout("the sender to finish its last send");

        Output.WriteLine($"{kind}, seed {seed}: {string.Join("; ", events)}");
        foreach (var receiver in receivers)
        {
            await receiver.AssertReceivedEverythingAsync(TimeSpan.FromSeconds(30));
        }

        var outages = receivers.Select(receiver => receiver.LongestSilence().TotalMilliseconds).Order().ToList();
        Output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{kind}: {sent} sends over {events.Count} faults, {receivers.Sum(r => r.Count)} deliveries, all once and in order, no gap; longest silence per client median {outages[outages.Count / 2]:0} ms, max {outages[^1]:0} ms; reconnects {receivers.Sum(r => r.Reconnects)}"));
    }
}

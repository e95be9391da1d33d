using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using SqliteBackplane.Tests.EndToEnd;
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
/// 30 s here; 90 s with <c>SQLITEBACKPLANE_SOAK=long</c>.
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class FrontDoorChaosTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    private readonly Lock _restartLock = new();

    private const int Receivers = 12;
    private const int NodeReceivers = 6;
    private static readonly TimeSpan NodeReadyTimeout = TimeSpan.FromSeconds(90);

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

        // The Node listeners: they report "node-ready" to the sender once connected and in the room.
        var nodeReady = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        sender.Connection.On<string>(ClientMethods.Receive, message =>
        {
            if (message == "node-ready")
            {
                nodeReady.TrySetResult();
            }
        });
        var nodeReceivers = Enumerable.Range(0, NodeReceivers).Select(n => ResumeReceiver.Remote($"node{n}", Transports[n % Transports.Length])).ToList();
        var nodeListening = NodeScripts.RunAsync("listen.mjs",
            [frontDoor.Address.ToString(), "sender", .. nodeReceivers.Select(r => $"{r.User}:{NodeTransport(r.Transport)}")], TimeSpan.FromMinutes(6), Output);
        if (await Task.WhenAny(nodeReady.Task, nodeListening).WaitAsync(NodeReadyTimeout) == nodeListening)
        {
            Assert.Fail($"The Node listeners ended before they were ready:{Environment.NewLine}{(await nodeListening).Output}");
        }
        receivers.AddRange(nodeReceivers);

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

        // A fault every 2-4 s; the victim restarts in the background (on its port, until healthy) while the chaos goes
        // on, so a fault can come while another process is still starting. Never one that is still starting itself.
        var events = new List<string>();
        var restarting = new Task[servers.Count];
        Array.Fill(restarting, Task.CompletedTask);
        var chaos = Stopwatch.StartNew();
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
                var exitCode = await victim.StopAsync();
                Assert.True(exitCode == 0, $"{victim.Name} exited with {exitCode} after SIGTERM.{Environment.NewLine}{victim.Output}");
                events.Add($"{chaos.Elapsed.TotalSeconds:0.0}s SIGTERM {victim.Settings.RouteKey}");
            }
            restarting[index] = RestartAsync(servers, index, victim);
        }
        await Task.WhenAll(restarting);

        var sentBeforeEnd = Volatile.Read(ref sent);
        await Eventually.BecomesTrueAsync(() => Volatile.Read(ref sent) > sentBeforeEnd + 50, TimeSpan.FromSeconds(30), "the sender to send after the last fault");
        await stopSending.CancelAsync();
        await sending.DefaultTimeout("the sender to finish its last send");

        await sender.InvokeAsync(nameof(TestHub.SendAll), ResumeReceiver.EndMarker);
        var node = await nodeListening;
        node.AssertPassed("6 Node resume clients connected through the front door", "every Node client received END");
        foreach (var receiver in nodeReceivers)
        {
            receiver.SetReceived(Reported(node.Output, "RECEIVED", receiver.User), Reported(node.Output, "GAPS", receiver.User));
        }

        Output.WriteLine($"{kind}, seed {seed}: {string.Join("; ", events)}");
        foreach (var receiver in receivers)
        {
            await receiver.AssertReceivedEverythingAsync(TimeSpan.FromSeconds(30));
        }

        // Arrival times are known for the .NET clients only.
        var outages = receivers.Except(nodeReceivers).Select(receiver => receiver.LongestSilence().TotalMilliseconds).Order().ToList();
        Output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{kind}: {sent} sends over {events.Count} faults, {receivers.Sum(r => r.Count)} deliveries, all once and in order, no gap, for {Receivers} .NET and {NodeReceivers} Node clients; longest silence per .NET client median {outages[outages.Count / 2]:0} ms, max {outages[^1]:0} ms; reconnects {receivers.Sum(r => r.Reconnects)}"));
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

    private static string NodeTransport(HttpTransportType transport) => transport switch
    {
        HttpTransportType.WebSockets => "ws",
        HttpTransportType.ServerSentEvents => "sse",
        _ => "lp",
    };

    /// <summary>The JSON array a listen.mjs line <c>&lt;kind&gt; &lt;user&gt; [...]</c> reported, or nothing.</summary>
    private static List<string> Reported(string output, string kind, string user)
    {
        var prefix = $"{kind} {user} ";
        var line = output.Split('\n').Select(l => l.TrimEnd('\r')).FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
        return line is null ? [] : System.Text.Json.JsonSerializer.Deserialize<List<string>>(line[prefix.Length..]) ?? [];
    }
}

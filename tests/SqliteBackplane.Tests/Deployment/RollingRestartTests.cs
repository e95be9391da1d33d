using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Http.Connections;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Deployment;

/// <summary>
/// A rolling restart (docs/deployment.md, docs/deployment/rolling-restart.sh: stop one process with SIGTERM, start it
/// again, wait until its health endpoint answers 200, then the next) of all three processes behind the front door,
/// while a sender on a fourth process sends to a group, to users and to All and resume clients over every transport
/// listen through the front door. Every client gets every message addressed to it exactly once, in order, with no gap;
/// every stop ends by removing its rows, without reaching the host's shutdown timeout.
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class RollingRestartTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    private const int Receivers = 9;
    private const string RowsRemovedLine = "stopped and removed its";
    private const string RowsLeftLine = "stopped without removing its rows";
    private const string DrainingLine = "This process is stopping";

    /// <summary>Long, so a stop that waited for it could not pass for a quick one.</summary>
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(10);

    private static readonly HttpTransportType[] Transports = [HttpTransportType.WebSockets, HttpTransportType.ServerSentEvents, HttpTransportType.LongPolling];

    [Theory]
    [InlineData(FrontDoorKind.Nginx)]
    [InlineData(FrontDoorKind.Yarp)]
    public async Task A_rolling_restart_behind_the_front_door_loses_duplicates_and_skips_nothing(FrontDoorKind kind)
    {
        var settings = new TestServerSettings { DatabasePath = Database.Path, EnableResume = true, ShutdownTimeout = ShutdownTimeout };
        var servers = new List<ServerProcess>();
        for (var n = 1; n <= 3; n++)
        {
            servers.Add(await StartAsync(settings with { RouteKey = $"p{n}" }, $"p{n}"));
        }
        var frontDoor = DisposeAfterTest(await FrontDoors.StartAsync(kind, [.. servers.Select(server => new Backend(server.Settings.RouteKey!, server.Port))]));
        var hub = new UriBuilder(frontDoor.Address) { Path = HubPaths.Test }.Uri;

        // The sender is a process of its own (like a worker), so its connection lives through the restarts.
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
                // Paced, so a loaded machine still serves nine clients over three transports.
                await Task.Delay(5, CancellationToken.None);
            }
        }, CancellationToken.None);

        var stops = new List<string>();
        for (var i = 0; i < servers.Count; i++)
        {
            await Eventually.BecomesTrueAsync(() => Volatile.Read(ref sent) > 50 * (i + 1), TimeSpan.FromSeconds(30), "the sender to send before the next stop");
            var old = servers[i];
            var stopwatch = Stopwatch.StartNew();
            var exitCode = await old.StopAsync();
            var stopTime = stopwatch.Elapsed;
            Assert.True(exitCode == 0, $"{old.Name} exited with {exitCode}.{Environment.NewLine}{old.Output}");
            Assert.True(old.Output.Contains(DrainingLine, StringComparison.Ordinal), $"{old.Name} did not log that it began draining.{Environment.NewLine}{old.Output}");
            Assert.True(old.Output.Contains(RowsRemovedLine, StringComparison.Ordinal) && !old.Output.Contains(RowsLeftLine, StringComparison.Ordinal),
                $"{old.Name} ran into its shutdown timeout ({ShutdownTimeout.TotalSeconds} s) instead of removing its rows.{Environment.NewLine}{old.Output}");

            // The same port and route key, like `systemctl start app@N`; then wait until it is healthy, like the script.
            stopwatch.Restart();
            servers[i] = await StartAsync(old.Settings with { Port = 0 }, $"{old.Settings.RouteKey} restarted", port: old.Port);
            await ResumeReceiver.WaitUntilHealthyAsync(servers[i]);
            stops.Add(string.Create(CultureInfo.InvariantCulture, $"{old.Settings.RouteKey}: stop {stopTime.TotalMilliseconds:0} ms, start until healthy {stopwatch.Elapsed.TotalMilliseconds:0} ms"));
        }

        var sentBeforeEnd = Volatile.Read(ref sent);
        await Eventually.BecomesTrueAsync(() => Volatile.Read(ref sent) > sentBeforeEnd + 50, TimeSpan.FromSeconds(30), "the sender to send after the last restart");
        await stopSending.CancelAsync();
        await sending.DefaultTimeout("the sender to finish its last send");

        foreach (var receiver in receivers)
        {
            await receiver.AssertReceivedEverythingAsync(TimeSpan.FromSeconds(30));
        }

        var outages = receivers.Select(receiver => receiver.LongestSilence().TotalMilliseconds).Order().ToList();
        Output.WriteLine($"{kind}: {sent} sends, {receivers.Sum(r => r.Count)} deliveries, all once and in order, no gap.");
        Output.WriteLine($"  {string.Join("; ", stops)}");
        Output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  longest silence per client (ms, outage plus the 5 ms pacing): median {outages[outages.Count / 2]:0}, max {outages[^1]:0}; reconnects {receivers.Sum(r => r.Reconnects)}"));
    }
}

using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
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
    private const string Room = "room";
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

        var receivers = new List<Receiver>();
        for (var n = 0; n < Receivers; n++)
        {
            receivers.Add(await ConnectReceiverAsync(hub, $"r{n}", Transports[n % Transports.Length], kind));
        }

        using var stopSending = new CancellationTokenSource();
        var sent = 0;
        var sending = Task.Run(async () =>
        {
            while (!stopSending.IsCancellationRequested)
            {
                await SendOneAsync(sender, sent++, receivers);
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
            await WaitUntilHealthyAsync(servers[i]);
            stops.Add(string.Create(CultureInfo.InvariantCulture, $"{old.Settings.RouteKey}: stop {stopTime.TotalMilliseconds:0} ms, start until healthy {stopwatch.Elapsed.TotalMilliseconds:0} ms"));
        }

        var sentBeforeEnd = Volatile.Read(ref sent);
        await Eventually.BecomesTrueAsync(() => Volatile.Read(ref sent) > sentBeforeEnd + 50, TimeSpan.FromSeconds(30), "the sender to send after the last restart");
        await stopSending.CancelAsync();
        await sending.DefaultTimeout("the sender to finish its last send");

        foreach (var receiver in receivers)
        {
            var expected = receiver.Expected();
            try
            {
                await Eventually.BecomesTrueAsync(() => receiver.Count >= expected.Count, TimeSpan.FromSeconds(30), $"{receiver.User} ({receiver.Transport}) to receive {expected.Count} messages");
            }
            catch (TimeoutException)
            {
                // The comparison below says what is missing.
            }
            var received = receiver.Received();
            Assert.True(receiver.Gaps.IsEmpty, $"{receiver.User} ({receiver.Transport}) was told of gaps: {string.Join(", ", receiver.Gaps)}.");
            Assert.True(expected.SequenceEqual(received), Describe(receiver, expected, received));
        }

        var outages = receivers.Select(receiver => receiver.LongestSilence().TotalMilliseconds).Order().ToList();
        Output.WriteLine($"{kind}: {sent} sends, {receivers.Sum(r => r.Count)} deliveries, all once and in order, no gap.");
        Output.WriteLine($"  {string.Join("; ", stops)}");
        Output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  longest silence per client (ms, outage plus the 5 ms pacing): median {outages[outages.Count / 2]:0}, max {outages[^1]:0}; reconnects {receivers.Sum(r => r.Reconnects)}"));
    }

    private static async Task SendOneAsync(TestClient sender, int n, List<Receiver> receivers)
    {
        var message = $"m{n}";
        switch (n % 3)
        {
            case 0:
                // Recorded before the send: a receiver may get it before the send returns.
                receivers.ForEach(receiver => receiver.Expect(message));
                await sender.InvokeAsync(nameof(TestHub.SendAll), message);
                break;
            case 1:
                receivers.ForEach(receiver => receiver.Expect(message));
                await sender.InvokeAsync(nameof(TestHub.SendGroup), Room, message);
                break;
            default:
                var target = receivers[n / 3 % receivers.Count];
                target.Expect(message);
                await sender.InvokeAsync(nameof(TestHub.SendUser), target.User, message);
                break;
        }
    }

    private async Task<Receiver> ConnectReceiverAsync(Uri hub, string user, HttpTransportType transport, FrontDoorKind kind)
    {
        var receiver = new Receiver(user, transport);
        var client = DisposeAfterTest(await TestClient.ConnectAsync(hub, user, HubProtocolKind.Json, transport, $"{user} through {kind}",
            configureBuilder: builder => builder
                .WithAutomaticReconnect(new RetryEvery100Milliseconds())
                .WithSqliteBackplaneResume(options => options.OnGap = reason => receiver.Gaps.Add(reason))));
        client.Connection.On<string>(ClientMethods.Receive, receiver.Add);
        client.Connection.Reconnected += _ =>
        {
            Interlocked.Increment(ref receiver.Reconnects);
            return Task.CompletedTask;
        };
        // A stopping server closes its connections without offering a reconnect: the app starts the connection again
        // (the resume helper resumes a manual start too), until a process takes it.
        client.Connection.Closed += _ => RestartAsync(client.Connection, receiver);
        await client.InvokeAsync(nameof(TestHub.AddToGroup), client.ConnectionId, Room);
        return receiver;
    }

    private static async Task RestartAsync(HubConnection connection, Receiver receiver)
    {
        Interlocked.Increment(ref receiver.Reconnects);
        var deadline = DateTime.UtcNow + TaskTimeoutExtensions.DefaultTimeoutValue;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                await connection.StartAsync();
                return;
            }
            catch (Exception ex) when (ex is HttpRequestException or InvalidOperationException or IOException or System.Net.WebSockets.WebSocketException or TimeoutException)
            {
                await Task.Delay(100);
            }
            catch (ObjectDisposedException)
            {
                return;
            }
        }
    }

    private static async Task WaitUntilHealthyAsync(ServerProcess server)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var health = new UriBuilder(server.Address) { Path = TestServerApp.HealthPath }.Uri;
        var deadline = DateTime.UtcNow + TaskTimeoutExtensions.DefaultTimeoutValue;
        while (true)
        {
            try
            {
                using var response = await http.GetAsync(health);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet.
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{server.Name} did not become healthy at {health}.{Environment.NewLine}{server.Output}");
            }
            await Task.Delay(100);
        }
    }

    private static string Describe(Receiver receiver, List<string> expected, List<string> received)
    {
        var missing = expected.Except(received).ToList();
        var duplicated = received.GroupBy(m => m).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        var firstDifference = expected.Zip(received).TakeWhile(pair => pair.First == pair.Second).Count();
        return $"{receiver.User} ({receiver.Transport}): expected {expected.Count}, received {received.Count}; missing {missing.Count} [{string.Join(", ", missing.Take(10))}], " +
            $"duplicated {duplicated.Count} [{string.Join(", ", duplicated.Take(10))}], first difference at index {firstDifference}.";
    }

    private sealed class Receiver(string user, HttpTransportType transport)
    {
        private readonly Lock _lock = new();
        private readonly List<string> _expected = [];
        private readonly List<(string Message, long At)> _received = [];

        public string User { get; } = user;

        public HttpTransportType Transport { get; } = transport;

        public System.Collections.Concurrent.ConcurrentBag<string> Gaps { get; } = [];

        public int Reconnects;

        public int Count
        {
            get
            {
                lock (_lock)
                {
                    return _received.Count;
                }
            }
        }

        public void Expect(string message)
        {
            lock (_lock)
            {
                _expected.Add(message);
            }
        }

        public void Add(string message)
        {
            lock (_lock)
            {
                _received.Add((message, Stopwatch.GetTimestamp()));
            }
        }

        public List<string> Expected()
        {
            lock (_lock)
            {
                return [.. _expected];
            }
        }

        public List<string> Received()
        {
            lock (_lock)
            {
                return [.. _received.Select(r => r.Message)];
            }
        }

        public TimeSpan LongestSilence()
        {
            lock (_lock)
            {
                return _received.Count < 2
                    ? TimeSpan.Zero
                    : _received.Zip(_received.Skip(1)).Max(pair => Stopwatch.GetElapsedTime(pair.First.At, pair.Second.At));
            }
        }
    }

    private sealed class RetryEvery100Milliseconds : IRetryPolicy
    {
        public TimeSpan? NextRetryDelay(RetryContext retryContext) => TimeSpan.FromMilliseconds(100);
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;

namespace SqliteBackplane.Tests.Deployment;

/// <summary>
/// A .NET client with the resume helper (SqliteBackplane.Client) behind the front door, as an app would write it:
/// automatic reconnect, plus a new start after a stopping server closed the connection without offering one. It
/// records every message with the time it arrived, and what it should receive (<see cref="Expect"/>), for the
/// exactly-once, in-order, no-gap checks of the rolling-restart and chaos tests.
/// </summary>
internal sealed class ResumeReceiver
{
    public const string Room = "room";

    /// <summary>Sent to All after the last message: tells the Node listeners their lists are complete; never recorded.</summary>
    public const string EndMarker = "END";

    private readonly Lock _lock = new();
    private readonly List<string> _expected = [];
    private readonly List<(string Message, long At)> _received = [];
    private int _reconnects;

    private ResumeReceiver(string user, HttpTransportType transport)
    {
        User = user;
        Transport = transport;
    }

    public string User { get; }

    public HttpTransportType Transport { get; }

    public ConcurrentBag<string> Gaps { get; } = [];

    public int Reconnects => Volatile.Read(ref _reconnects);

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

    /// <summary>A client in another process (the Node listeners): what it received is given afterwards, with <see cref="SetReceived"/>.</summary>
    public static ResumeReceiver Remote(string user, HttpTransportType transport) => new(user, transport);

    /// <summary>Records what a remote client reported, in its order, and the gaps it was told of.</summary>
    public void SetReceived(IEnumerable<string> messages, IEnumerable<string> gaps)
    {
        foreach (var message in messages)
        {
            Add(message);
        }
        foreach (var gap in gaps)
        {
            Gaps.Add(gap);
        }
    }

    /// <summary>Connects <paramref name="user"/> through <paramref name="hub"/> and joins <see cref="Room"/>; the caller disposes the client.</summary>
    public static async Task<(ResumeReceiver Receiver, TestClient Client)> ConnectAsync(Uri hub, string user, HttpTransportType transport, string description)
    {
        var receiver = new ResumeReceiver(user, transport);
        var client = await TestClient.ConnectAsync(hub, user, HubProtocolKind.Json, transport, description,
            configureBuilder: builder => builder
                .WithAutomaticReconnect(new RetryEvery100Milliseconds())
                .WithSqliteBackplaneResume(options => options.OnGap = reason => receiver.Gaps.Add(reason)));
        client.Connection.On<string>(ClientMethods.Receive, receiver.Add);
        client.Connection.Reconnected += _ =>
        {
            Interlocked.Increment(ref receiver._reconnects);
            return Task.CompletedTask;
        };
        // A stopping server closes its connections without offering a reconnect: the app starts the connection again
        // (the resume helper resumes a manual start too), until a process takes it.
        client.Connection.Closed += _ => receiver.RestartAsync(client.Connection);
        await client.InvokeAsync(nameof(TestHub.AddToGroup), client.ConnectionId, Room);
        return (receiver, client);
    }

    /// <summary>Sends message number <paramref name="n"/>: to All, to <see cref="Room"/> or to one receiver's user, in turn, recording who should get it.</summary>
    public static async Task SendOneAsync(TestClient sender, int n, IReadOnlyList<ResumeReceiver> receivers)
    {
        var message = $"m{n}";
        // Recorded before the send: a receiver may get it before the send returns.
        switch (n % 3)
        {
            case 0:
                foreach (var receiver in receivers)
                {
                    receiver.Expect(message);
                }
                await sender.InvokeAsync(nameof(TestHub.SendAll), message);
                break;
            case 1:
                foreach (var receiver in receivers)
                {
                    receiver.Expect(message);
                }
                await sender.InvokeAsync(nameof(TestHub.SendGroup), Room, message);
                break;
            default:
                var target = receivers[n / 3 % receivers.Count];
                target.Expect(message);
                await sender.InvokeAsync(nameof(TestHub.SendUser), target.User, message);
                break;
        }
    }

    /// <summary>Polls the server's own health endpoint until it answers 200, like docs/deployment/rolling-restart.sh.</summary>
    public static async Task WaitUntilHealthyAsync(ServerProcess server)
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

    /// <summary>Waits until this receiver has as many messages as expected (or the timeout), then checks them: exactly once, in order, no gap.</summary>
    public async Task AssertReceivedEverythingAsync(TimeSpan timeout)
    {
        var expected = Expected();
        try
        {
            await Eventually.BecomesTrueAsync(() => Count >= expected.Count, timeout, $"{User} ({Transport}) to receive {expected.Count} messages");
        }
        catch (TimeoutException)
        {
            // The comparison below says what is missing.
        }
        var received = Received();
        if (!Gaps.IsEmpty)
        {
            throw new Xunit.Sdk.XunitException($"{User} ({Transport}) was told of gaps: {string.Join(", ", Gaps)}. {Describe(expected, received)}");
        }
        if (!expected.SequenceEqual(received))
        {
            throw new Xunit.Sdk.XunitException(Describe(expected, received));
        }
    }

    public void Expect(string message)
    {
        lock (_lock)
        {
            _expected.Add(message);
        }
    }

    /// <summary>The longest time between two messages in a row: the outage this client saw (plus the sender's pacing).</summary>
    public TimeSpan LongestSilence()
    {
        lock (_lock)
        {
            return _received.Count < 2
                ? TimeSpan.Zero
                : _received.Zip(_received.Skip(1)).Max(pair => Stopwatch.GetElapsedTime(pair.First.At, pair.Second.At));
        }
    }

    private void Add(string message)
    {
        if (message == EndMarker)
        {
            return;
        }
        lock (_lock)
        {
            _received.Add((message, Stopwatch.GetTimestamp()));
        }
    }

    private List<string> Expected()
    {
        lock (_lock)
        {
            return [.. _expected];
        }
    }

    private List<string> Received()
    {
        lock (_lock)
        {
            return [.. _received.Select(r => r.Message)];
        }
    }

    private async Task RestartAsync(HubConnection connection)
    {
        Interlocked.Increment(ref _reconnects);
        var deadline = DateTime.UtcNow + TaskTimeoutExtensions.DefaultTimeoutValue;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                await connection.StartAsync();
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (Exception ex) when (ex is HttpRequestException or InvalidOperationException or IOException or System.Net.WebSockets.WebSocketException or TimeoutException)
            {
                await Task.Delay(100);
            }
        }
    }

    private string Describe(List<string> expected, List<string> received)
    {
        var missing = expected.Except(received).ToList();
        var duplicated = received.GroupBy(m => m).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        var firstDifference = expected.Zip(received).TakeWhile(pair => pair.First == pair.Second).Count();
        return $"{User} ({Transport}): expected {expected.Count}, received {received.Count}; missing {missing.Count} [{string.Join(", ", missing.Take(10))}], " +
            $"duplicated {duplicated.Count} [{string.Join(", ", duplicated.Take(10))}], first difference at index {firstDifference}.";
    }

    private sealed class RetryEvery100Milliseconds : IRetryPolicy
    {
        public TimeSpan? NextRetryDelay(RetryContext retryContext) => TimeSpan.FromMilliseconds(100);
    }
}

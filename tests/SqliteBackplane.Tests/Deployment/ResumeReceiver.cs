using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;

namespace SqliteBackplane.Tests.Deployment;

/// <summary>
/// One receiver of a <see cref="PacedSender"/> worker's messages behind the front door: a .NET client with the resume
/// helper (SqliteBackplane.Client), as an app would write it (automatic reconnect, plus a new start after a stopping
/// server closed the connection without offering one), or a Node client that reports its tally afterwards
/// (tests/e2e/listen.mjs). It keeps a running tally instead of the messages, so a hundred clients at a thousand
/// messages a second cost nothing: which number came last, how many arrived, how many addressed to it were skipped
/// (<see cref="PacedSender.IsFor"/>), how many came again or late, and the longest silence between two deliveries.
/// </summary>
internal sealed class ResumeReceiver
{
    private readonly Lock _lock = new();
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _count;
    private long _last = -1;
    private long _missing;
    private long _disorder;
    private long _lastAt;
    private long _longestSilenceTicks;
    private long _longestSilenceEndedAt;
    private int _reconnects;
    private double? _remoteLongestSilenceMs;

    private ResumeReceiver(int index, int users, HttpTransportType transport, bool remote)
    {
        Index = index;
        Users = users;
        Transport = transport;
        IsRemote = remote;
    }

    /// <summary>This receiver's number; its user is <see cref="PacedSender.UserName"/>(Index).</summary>
    public int Index { get; }

    public int Users { get; }

    public string User => PacedSender.UserName(Index);

    public HttpTransportType Transport { get; }

    /// <summary>A Node client, whose tally arrives at the end (<see cref="SetTally"/>).</summary>
    public bool IsRemote { get; }

    public ConcurrentBag<string> Gaps { get; } = [];

    public int Reconnects => Volatile.Read(ref _reconnects);

    public long Count
    {
        get
        {
            lock (_lock)
            {
                return _count;
            }
        }
    }

    /// <summary>When the last message arrived (<see cref="Stopwatch.GetTimestamp"/>), 0 before the first.</summary>
    public long LastAt
    {
        get
        {
            lock (_lock)
            {
                return _lastAt;
            }
        }
    }

    /// <summary>The longest time between two deliveries in a row: the outage this client saw, plus the sender's pacing.</summary>
    public TimeSpan LongestSilence
    {
        get
        {
            lock (_lock)
            {
                return _remoteLongestSilenceMs is double ms ? TimeSpan.FromMilliseconds(ms) : TimeSpan.FromTicks(_longestSilenceTicks);
            }
        }
    }

    /// <summary>When the longest silence ended (<see cref="Stopwatch.GetTimestamp"/>; .NET clients only), 0 before it.</summary>
    public long LongestSilenceEndedAt
    {
        get
        {
            lock (_lock)
            {
                return _longestSilenceEndedAt;
            }
        }
    }

    /// <summary>
    /// When the .NET clients' longest silences began and ended, in seconds after <paramref name="start"/>, grouped: shows
    /// whether they were one stall for everyone or each client's own move.
    /// </summary>
    public static string WhenSilencesHappened(IEnumerable<ResumeReceiver> receivers, long start) =>
        string.Join(", ", receivers.Where(r => !r.IsRemote && r.LongestSilenceEndedAt != 0)
            .Select(r =>
            {
                var ended = Stopwatch.GetElapsedTime(start, r.LongestSilenceEndedAt).TotalSeconds;
                return string.Create(CultureInfo.InvariantCulture, $"{ended - r.LongestSilence.TotalSeconds:0.0}-{ended:0.0} s");
            })
            .GroupBy(span => span).OrderByDescending(g => g.Count()).Take(8).Select(g => $"{g.Key} x{g.Count()}"));

    /// <summary>A Node client: its tally is given afterwards, with <see cref="SetTally"/>.</summary>
    public static ResumeReceiver Remote(int index, int users, HttpTransportType transport) => new(index, users, transport, remote: true);

    /// <summary>The listen.mjs argument for this (remote) receiver: <c>user:transport:index</c>.</summary>
    public string NodeSpec => $"{User}:{NodeTransport(Transport)}:{Index.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Takes what a remote client reported on its <c>TALLY &lt;user&gt; {json}</c> line (listen.mjs).</summary>
    public void SetTally(string nodeOutput)
    {
        var prefix = $"TALLY {User} ";
        var line = nodeOutput.Split('\n').Select(l => l.TrimEnd('\r')).FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal))
            ?? throw new Xunit.Sdk.XunitException($"The Node listener printed no tally for {User}.");
        using var json = JsonDocument.Parse(line[prefix.Length..]);
        var root = json.RootElement;
        lock (_lock)
        {
            _count = root.GetProperty("count").GetInt64();
            _last = root.GetProperty("last").GetInt64();
            _missing = root.GetProperty("missing").GetInt64();
            _disorder = root.GetProperty("disorder").GetInt64();
            _remoteLongestSilenceMs = root.GetProperty("longestSilenceMs").GetDouble();
            _reconnects = root.GetProperty("reconnects").GetInt32();
            if (root.GetProperty("ended").GetBoolean())
            {
                _ended.TrySetResult();
            }
        }
        foreach (var gap in root.GetProperty("gaps").EnumerateArray())
        {
            Gaps.Add(gap.GetString() ?? "");
        }
    }

    /// <summary>Connects receiver <paramref name="index"/> through <paramref name="hub"/> and joins the worker's group; the caller disposes the client.</summary>
    public static async Task<(ResumeReceiver Receiver, TestClient Client)> ConnectAsync(Uri hub, int index, int users, HttpTransportType transport, string description)
    {
        var receiver = new ResumeReceiver(index, users, transport, remote: false);
        var client = await TestClient.ConnectAsync(hub, receiver.User, HubProtocolKind.Json, transport, description,
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
        await client.InvokeAsync(nameof(TestHub.AddToGroup), client.ConnectionId, PacedSender.Group);
        return (receiver, client);
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

    /// <summary>
    /// Asks the worker to stop sending (<see cref="PacedSender.StopPath"/>): it finishes a send the backplane holds back,
    /// sends the end marker and prints its count; the process keeps running until stopped.
    /// </summary>
    public static async Task StopSendingAsync(ServerProcess worker)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(3) };
        using var response = await http.PostAsync(new UriBuilder(worker.Address) { Path = PacedSender.StopPath }.Uri, content: null);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>
    /// The worker's message count from its output (<see cref="PacedSender.SentPrefix"/>), and what it added (how many
    /// sends the backplane held back); fails if a send failed.
    /// </summary>
    public static (long Sent, string Note) SentBy(ServerProcess worker)
    {
        var lines = worker.Output.Split('\n').Select(l => l.Trim()).ToList();
        var failure = lines.FirstOrDefault(l => l.Contains(PacedSender.FailedPrefix, StringComparison.Ordinal));
        if (failure is not null)
        {
            throw new Xunit.Sdk.XunitException($"The worker stopped sending: {failure}{Environment.NewLine}{worker.Output}");
        }
        var sent = lines.Select(l => l.IndexOf(PacedSender.SentPrefix, StringComparison.Ordinal) is var at and >= 0 ? l[(at + PacedSender.SentPrefix.Length)..] : null)
            .FirstOrDefault(l => l is not null)
            ?? throw new Xunit.Sdk.XunitException($"The worker did not print how many it sent.{Environment.NewLine}{worker.Output}");
        var count = sent.Split(' ', 2);
        return (long.Parse(count[0], NumberStyles.Integer, CultureInfo.InvariantCulture), count.Length > 1 ? count[1] : "");
    }

    /// <summary>The longest silence per client, over <paramref name="receivers"/>: "p50 x ms, p99 y ms, max z ms".</summary>
    public static string OutageSummary(IEnumerable<ResumeReceiver> receivers)
    {
        var ms = receivers.Select(r => r.LongestSilence.TotalMilliseconds).Order().ToList();
        if (ms.Count == 0)
        {
            return "no clients";
        }
        double At(double p) => ms[Math.Clamp((int)Math.Ceiling(p * ms.Count) - 1, 0, ms.Count - 1)];
        return string.Create(CultureInfo.InvariantCulture, $"p50 {At(0.5):0} ms, p99 {At(0.99):0} ms, max {ms[^1]:0} ms over {ms.Count} clients");
    }

    /// <summary>How many of the first <paramref name="sent"/> messages are addressed to this receiver.</summary>
    public long ExpectedCount(long sent) => sent / 3 * 2 + sent % 3 + UserMessagesFor(sent);

    /// <summary>
    /// Waits until this (local) receiver got the end marker (or the timeout), then checks its tally against the
    /// <paramref name="sent"/> messages: every one addressed to it exactly once, in order, and no gap reported.
    /// </summary>
    public async Task AssertReceivedEverythingAsync(long sent, TimeSpan timeout)
    {
        var problem = await ProblemAsync(sent, timeout);
        if (problem is not null)
        {
            throw new Xunit.Sdk.XunitException(problem);
        }
    }

    /// <summary>What is wrong with this receiver's tally for <paramref name="sent"/> messages, or null; waits for the end marker first.</summary>
    public async Task<string?> ProblemAsync(long sent, TimeSpan timeout)
    {
        try
        {
            await _ended.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            // The tally below says what is missing.
        }
        var (lost, disorder, count, last) = Tally(sent);
        var expected = ExpectedCount(sent);
        if (!Gaps.IsEmpty || lost > 0 || disorder > 0 || count != expected)
        {
            return $"{User} ({Transport}{(IsRemote ? ", Node" : "")}): expected {expected} of {sent} sent, received {count} (last m{last}); lost {lost}, " +
                $"duplicated or late {disorder}; gaps [{string.Join(", ", Gaps)}]; ended {_ended.Task.IsCompleted}.";
        }
        return null;
    }

    /// <summary>Lost (addressed to it, skipped or never arrived), duplicated or late, received, last number, for <paramref name="sent"/> messages.</summary>
    public (long Lost, long Disorder, long Count, long Last) Tally(long sent)
    {
        lock (_lock)
        {
            var lost = _missing;
            for (var n = _last + 1; n < sent; n++)
            {
                if (PacedSender.IsFor(n, Index, Users))
                {
                    lost++;
                }
            }
            return (lost, _disorder, _count, _last);
        }
    }

    private long UserMessagesFor(long sent)
    {
        // Message 3k + 2 goes to receiver k % Users; sent / 3 of them were sent.
        var userMessages = sent / 3;
        return userMessages / Users + (userMessages % Users > Index ? 1 : 0);
    }

    private void Add(string message)
    {
        if (message == PacedSender.EndMarker)
        {
            _ended.TrySetResult();
            return;
        }
        var n = long.Parse(message.AsSpan(1), NumberStyles.Integer, CultureInfo.InvariantCulture);
        var now = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            if (n <= _last)
            {
                _disorder++;
            }
            else
            {
                for (var skipped = _last + 1; skipped < n; skipped++)
                {
                    if (PacedSender.IsFor(skipped, Index, Users))
                    {
                        _missing++;
                    }
                }
                _last = n;
            }
            _count++;
            if (_lastAt != 0 && Stopwatch.GetElapsedTime(_lastAt, now).Ticks is var silence && silence > _longestSilenceTicks)
            {
                _longestSilenceTicks = silence;
                _longestSilenceEndedAt = now;
            }
            _lastAt = now;
        }
    }

    private async Task RestartAsync(HubConnection connection)
    {
        Interlocked.Increment(ref _reconnects);
        // Generous: on a loaded machine every process can be busy for a while; an app would try for ever.
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
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

    private static string NodeTransport(HttpTransportType transport) => transport switch
    {
        HttpTransportType.WebSockets => "ws",
        HttpTransportType.ServerSentEvents => "sse",
        _ => "lp",
    };

    private sealed class RetryEvery100Milliseconds : IRetryPolicy
    {
        public TimeSpan? NextRetryDelay(RetryContext retryContext) => TimeSpan.FromMilliseconds(100);
    }
}

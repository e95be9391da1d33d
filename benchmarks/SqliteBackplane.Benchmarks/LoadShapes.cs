using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.SignalR.Client;

namespace SqliteBackplane.Benchmarks;

/// <summary>
/// The load shapes users create (issue 12), through <see cref="LoadHub"/>'s <c>Broadcast(payload)</c>:
/// <list type="bullet">
/// <item><b>L</b>, one busy client: one connection on server A sends (fire and forget, <c>SendAsync</c>) at a fixed rate;
/// a client on server B records receive time minus send time.</item>
/// <item><b>F</b>, clients flood: 4 clients, 2 per server, each invoking the method as fast as the server accepts
/// (<c>InvokeAsync</c>, a bounded window of calls in flight: a new call starts when an earlier one has returned from
/// the hub method) for a few seconds; all 4 receive every message.</item>
/// </list>
/// Setups (none, redis, sqlite) are interleaved round by round, so that each round's ratios compare setups measured
/// minutes apart under the same machine load.
/// </summary>
public sealed partial class Driver
{
    /// <summary>Clients in scenario F.</summary>
    private const int FloodClients = 4;

    /// <summary>Warm-up messages of scenario F carry sender ids from here on; receivers count them apart.</summary>
    private const int FloodWarmupSenderBase = 100;

    /// <summary>How long after the last send a missing message still counts as late rather than lost.</summary>
    private static readonly TimeSpan LoadDrainTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Invocations each F client keeps in flight (BENCH_F_WINDOW, default 16). An invocation completes when the hub
    /// method has returned on the server, so a completed call is a message the server accepted; the server runs one
    /// connection's invocations one at a time, so a window only keeps the next ones waiting at the server instead of
    /// on a loopback round trip and the client's scheduling (with a window of 1, measured: the flood is bound by those
    /// round trips, and an idle-spinning server's CPU per message means nothing). The window bounds what a client has
    /// outstanding, so no buffer can hide a backlog the way unbounded SendAsync calls would (they complete once
    /// written to the socket, and the socket buffers hold tens of thousands of messages).
    /// </summary>
    private static readonly int FloodWindow = int.TryParse(Environment.GetEnvironmentVariable("BENCH_F_WINDOW"), out var w) && w > 0 ? w : 16;

    /// <summary>Latency quantiles kept for the distribution charts (100 = the maximum).</summary>
    internal static readonly double[] CurveQuantiles = [10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100];

    internal static string QuantileKey(double q) => "q_" + q.ToString(CultureInfo.InvariantCulture);

    private async Task LoadShapesAsync(bool l, bool f, int rounds)
    {
        var setups = Selected(_plan.LoadSetups).ToArray();
        for (var round = 1; round <= rounds; round++)
        {
            Log($"== load shapes, round {round} of {rounds}");
            if (l)
            {
                foreach (var rate in _plan.LoadRates)
                {
                    var results = new List<Result>();
                    foreach (var spec in setups)
                    {
                        var (mode, processes) = ParseSetup(spec);
                        await GuardedMeasurement($"L {rate}/s {spec}", async () => results.Add(await OneBusyClientAsync(mode, processes, rate, round)));
                    }
                    AddRatios(results, "p50", "p99", "p999", "max");
                    ReportAll(results);
                }
            }
            if (f)
            {
                var results = new List<Result>();
                foreach (var spec in setups)
                {
                    var (mode, processes) = ParseSetup(spec);
                    await GuardedMeasurement($"F {spec}", async () => results.Add(await ClientsFloodAsync(mode, processes, round)));
                }
                AddRatios(results, "published_per_s", "deliveries_per_s", "drain_s", "p50", "p99");
                ReportAll(results);
            }
        }
    }

    private async Task GuardedMeasurement(string name, Func<Task> measure)
    {
        try
        {
            await measure();
        }
        catch (Exception ex)
        {
            Problems.Add($"{name}: crashed: {ex.GetType().Name}: {ex.Message}");
            Log($"{name} failed: {ex}");
        }
    }

    private void ReportAll(List<Result> results)
    {
        foreach (var result in results)
        {
            Results.Add(result);
            Log(Describe(result));
        }
    }

    /// <summary>Adds "key_ratio" (this setup over the floor of the same round) for each key.</summary>
    private static void AddRatios(List<Result> results, params string[] keys)
    {
        var floor = results.FirstOrDefault(r => r.Setup == Setups.NoneName);
        if (floor is null)
        {
            return;
        }
        foreach (var result in results.Where(r => r != floor))
        {
            foreach (var key in keys)
            {
                if (result.Metrics.TryGetValue(key, out var value) && floor.Metrics.TryGetValue(key, out var floorValue) && floorValue > 0)
                {
                    result.Metrics[key + "_ratio"] = value / floorValue;
                }
            }
        }
    }

    // ---------------------------------------------------------------- L: one busy client

    private async Task<Result> OneBusyClientAsync(string mode, int processes, int rate, int round)
    {
        await using var servers = await ServerSet.StartAsync(mode, processes, NewDb(), this);
        var warmup = (int)(rate * _plan.LoadWarmupSeconds);
        var measured = (int)(rate * _plan.LoadSeconds);
        var total = warmup + measured;
        var latencies = new long[measured];
        var receiverSeen = new SequenceTracker();
        var senderSeen = new SequenceTracker();

        // The sender is on the first server, the receiver on the last (the other process whenever there are two).
        var sender = CreateConnection(servers[0].LoadHubUri, resume: mode == "sqlite-resume");
        var receiver = CreateConnection(servers[^1].LoadHubUri, resume: mode == "sqlite-resume");
        try
        {
            receiver.On<LoadMessage>(LoadHub.Method, message =>
            {
                var now = Stopwatch.GetTimestamp();
                if (message.Sender == 0 && receiverSeen.Record(message.Seq, now) && message.Seq >= warmup && message.Seq < total)
                {
                    latencies[message.Seq - warmup] = now - message.SentAt;
                }
            });
            // The sender gets its own broadcasts too (Clients.All), as a user's client would; it only counts them.
            sender.On<LoadMessage>(LoadHub.Method, message => senderSeen.Record(message.Seq, Stopwatch.GetTimestamp()));
            await Task.WhenAll(sender.StartAsync(), receiver.StartAsync());

            // Open loop: message i is due at start + i / rate whatever happened to earlier ones; a send that returns
            // late (the connection's buffers full because the server is behind) shows as lag and a lower achieved rate.
            var start = Stopwatch.GetTimestamp();
            var maxLag = 0L;
            for (var i = 0; i < total; i++)
            {
                var due = start + (long)i * Stopwatch.Frequency / rate;
                var now = Stopwatch.GetTimestamp();
                if (due > now)
                {
                    await Task.Delay(TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond, (due - now) * TimeSpan.TicksPerSecond / Stopwatch.Frequency)));
                    now = Stopwatch.GetTimestamp();
                }
                maxLag = Math.Max(maxLag, now - due);
                await sender.SendAsync(nameof(LoadHub.Broadcast), new LoadMessage(0, i, Stopwatch.GetTimestamp()));
            }
            var lastSend = Stopwatch.GetTimestamp();
            var sendSeconds = (lastSend - start) / (double)Stopwatch.Frequency;
            await WaitUntilAsync(() => receiverSeen.Distinct >= total && senderSeen.Distinct >= total, lastSend);
            servers.CheckAlive();

            var samples = latencies.Where(t => t > 0).Select(t => t * 1000.0 / Stopwatch.Frequency).Order().ToArray();
            var lost = total - receiverSeen.Distinct + (total - senderSeen.Distinct);
            if (lost > 0)
            {
                Problems.Add($"L {rate}/s {Setups.Name(mode, processes)} round {round}: {lost} deliveries not received {LoadDrainTimeout.TotalSeconds:F0} s after the last send");
            }
            var metrics = new Dictionary<string, double>
            {
                ["rate"] = rate,
                ["achieved_rate"] = total / (sendSeconds + 1.0 / rate),
                ["max_send_lag_ms"] = maxLag * 1000.0 / Stopwatch.Frequency,
                ["p50"] = Stats.Percentile(samples, 50),
                ["p90"] = Stats.Percentile(samples, 90),
                ["p99"] = Stats.Percentile(samples, 99),
                ["p999"] = Stats.Percentile(samples, 99.9),
                ["max"] = samples.Length > 0 ? samples[^1] : double.NaN,
                ["received"] = samples.Length,
                ["lost"] = lost,
                ["dups"] = receiverSeen.Duplicates + senderSeen.Duplicates,
                ["reordered"] = receiverSeen.Reordered + senderSeen.Reordered,
            };
            AddCurve(metrics, samples);
            return new Result("L", Setups.Name(mode, processes), rate.ToString(CultureInfo.InvariantCulture), metrics, round);
        }
        finally
        {
            await DisposeAllAsync([sender, receiver]);
        }
    }

    private static void AddCurve(Dictionary<string, double> metrics, double[] sorted)
    {
        foreach (var q in CurveQuantiles)
        {
            metrics[QuantileKey(q)] = q >= 100 ? (sorted.Length > 0 ? sorted[^1] : double.NaN) : Stats.Percentile(sorted, q);
        }
    }

    /// <summary>Polls (this is the driver, not a test) until the condition holds or the drain timeout after <paramref name="lastSend"/>.</summary>
    private static async Task WaitUntilAsync(Func<bool> condition, long lastSend)
    {
        var deadline = lastSend + (long)(LoadDrainTimeout.TotalSeconds * Stopwatch.Frequency);
        while (!condition() && Stopwatch.GetTimestamp() < deadline)
        {
            await Task.Delay(10);
        }
    }

    // ---------------------------------------------------------------- F: clients flood

    private async Task<Result> ClientsFloodAsync(string mode, int processes, int round)
    {
        await using var servers = await ServerSet.StartAsync(mode, processes, NewDb(), this);
        var clients = Enumerable.Range(0, FloodClients)
            .Select(i => new FloodClient(i, CreateConnection(servers[i % servers.Count].LoadHubUri, resume: mode == "sqlite-resume"), FloodClients))
            .ToList();
        try
        {
            await Task.WhenAll(clients.Select(c => c.Connection.StartAsync()));

            // Warm-up (JIT, connections): a few invocations per client, counted apart; wait until every client has them.
            var warmup = int.TryParse(Environment.GetEnvironmentVariable("BENCH_F_WARMUP"), out var n) && n > 0 ? n : _plan.FloodWarmupMessages;
            await Task.WhenAll(clients.Select(c => c.WarmUpAsync(warmup)));
            await WaitUntilAsync(() => clients.All(c => c.WarmupReceived >= warmup * FloodClients), Stopwatch.GetTimestamp());

            var cpuBefore = servers.Sum(s => s.CpuTicks());
            using var profiler = StartProfiler(servers, mode, round);
            var start = Stopwatch.GetTimestamp();
            var deadline = start + (long)(_plan.FloodSeconds * Stopwatch.Frequency);
            await Task.WhenAll(clients.Select(c => c.FloodAsync(deadline, FloodWindow)));
            if (profiler is not null)
            {
                await profiler.WaitForExitAsync();
            }
            var lastSend = clients.Max(c => c.LastSendCompleted);
            var published = clients.Sum(c => c.Sent);
            var expected = published * FloodClients;
            await WaitUntilAsync(() => clients.Sum(c => c.Distinct) >= expected, lastSend);
            var cpuUs = (servers.Sum(s => s.CpuTicks()) - cpuBefore) * 1e6 / ClockTicksPerSecond();
            servers.CheckAlive();

            var lastDelivery = clients.Max(c => c.LastReceived);
            var delivered = clients.Sum(c => c.Distinct);
            var lost = expected - delivered;
            if (lost > 0)
            {
                Problems.Add($"F {Setups.Name(mode, processes)} round {round}: {lost} deliveries not received {LoadDrainTimeout.TotalSeconds:F0} s after the last send");
            }
            var samples = clients.SelectMany(c => c.Latencies).Order().ToArray();
            var metrics = new Dictionary<string, double>
            {
                ["clients"] = FloodClients,
                ["window"] = FloodWindow,
                ["published"] = published,
                ["published_per_s"] = published / ((lastSend - start) / (double)Stopwatch.Frequency),
                ["deliveries_per_s"] = delivered / ((Math.Max(lastDelivery, lastSend) - start) / (double)Stopwatch.Frequency),
                ["drain_s"] = Math.Max(0, lastDelivery - lastSend) / (double)Stopwatch.Frequency,
                ["lost"] = lost,
                ["dups"] = clients.Sum(c => c.Duplicates),
                ["reordered"] = clients.Sum(c => c.Reordered),
                ["server_cpu_us_per_msg"] = published > 0 ? cpuUs / published : double.NaN,
                ["p50"] = Stats.Percentile(samples, 50),
                ["p99"] = Stats.Percentile(samples, 99),
                ["max"] = samples.Length > 0 ? samples[^1] : double.NaN,
            };
            return new Result("F", Setups.Name(mode, processes), "4 clients", metrics, round);
        }
        finally
        {
            await DisposeAllAsync(clients.Select(c => c.Connection));
        }
    }

    /// <summary>
    /// BENCH_PERF_OUT=&lt;dir&gt;: samples the servers' stacks during the flood with
    /// <c>perf record -e cpu-clock -g -p &lt;pids&gt; -- sleep &lt;flood seconds&gt;</c> into &lt;dir&gt;/F-&lt;mode&gt;-round&lt;n&gt;.perf.data
    /// (set DOTNET_PerfMapEnabled=1 so that perf can name JIT-compiled frames). See benchmarks/profile-F.sh.
    /// </summary>
    private Process? StartProfiler(ServerSet servers, string mode, int round)
    {
        if (Environment.GetEnvironmentVariable("BENCH_PERF_OUT") is not { Length: > 0 } dir)
        {
            return null;
        }
        Directory.CreateDirectory(dir);
        var info = new ProcessStartInfo("perf") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        var file = Path.Combine(dir, $"F-{mode}-round{round}.perf.data");
        foreach (var arg in new[] { "record", "-e", "cpu-clock", "-F", "999", "-g", "-o", file, "-p", string.Join(',', servers.Select(s => s.Pid)), "--", "sleep", _plan.FloodSeconds.ToString(CultureInfo.InvariantCulture) })
        {
            info.ArgumentList.Add(arg);
        }
        var perf = Process.Start(info) ?? throw new InvalidOperationException("Could not start perf.");
        perf.OutputDataReceived += (_, _) => { };
        perf.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { Length: > 0 } line)
            {
                Log("perf: " + line);
            }
        };
        perf.BeginOutputReadLine();
        perf.BeginErrorReadLine();
        Log($"profiling {string.Join(", ", servers.Select(s => s.Pid))} into {file}");
        return perf;
    }

    /// <summary>One client of scenario F: invokes Broadcast in a loop and checks what it receives from every sender.</summary>
    private sealed class FloodClient
    {
        private readonly int _id;
        private readonly SequenceTracker[] _seen;
        private readonly List<double> _latencies = [];
        private int _warmupReceived;

        public FloodClient(int id, HubConnection connection, int senders)
        {
            _id = id;
            Connection = connection;
            _seen = Enumerable.Range(0, senders).Select(_ => new SequenceTracker()).ToArray();
            // SignalR runs one connection's handlers one at a time: no locks per client.
            connection.On<LoadMessage>(LoadHub.Method, message =>
            {
                var now = Stopwatch.GetTimestamp();
                if (message.Sender >= FloodWarmupSenderBase)
                {
                    Interlocked.Increment(ref _warmupReceived);
                }
                else if (message.Sender >= 0 && message.Sender < _seen.Length && _seen[message.Sender].Record(message.Seq, now))
                {
                    lock (_latencies)
                    {
                        _latencies.Add((now - message.SentAt) * 1000.0 / Stopwatch.Frequency);
                    }
                }
            });
        }

        public HubConnection Connection { get; }

        public long Sent { get; private set; }

        public long LastSendCompleted { get; private set; }

        public int WarmupReceived => Volatile.Read(ref _warmupReceived);

        public long Distinct => _seen.Sum(s => s.Distinct);

        public long Duplicates => _seen.Sum(s => s.Duplicates);

        public long Reordered => _seen.Sum(s => s.Reordered);

        public long LastReceived => _seen.Max(s => s.LastReceived);

        /// <summary>Delivery latencies (ms) so far; a copy, since late messages may still arrive after a timeout.</summary>
        public double[] Latencies
        {
            get
            {
                lock (_latencies)
                {
                    return [.. _latencies];
                }
            }
        }

        public async Task WarmUpAsync(int count)
        {
            for (var i = 0; i < count; i++)
            {
                await Connection.InvokeAsync(nameof(LoadHub.Broadcast), new LoadMessage(FloodWarmupSenderBase + _id, i, Stopwatch.GetTimestamp()));
            }
        }

        /// <summary>
        /// As fast as the server accepts: an invocation completes when the hub method has returned on the server, so a
        /// completed call is an accepted message. With a window of 1 the next call starts then; a larger window keeps
        /// that many calls in flight (the server still runs them one at a time) to hide the loopback round trip.
        /// </summary>
        public async Task FloodAsync(long deadline, int window)
        {
            var inFlight = new Queue<Task>(window);
            long seq = 0;
            while (Stopwatch.GetTimestamp() < deadline)
            {
                if (inFlight.Count >= window)
                {
                    await inFlight.Dequeue();
                    Sent++;
                    LastSendCompleted = Stopwatch.GetTimestamp();
                }
                inFlight.Enqueue(Connection.InvokeAsync(nameof(LoadHub.Broadcast), new LoadMessage(_id, seq++, Stopwatch.GetTimestamp())));
            }
            while (inFlight.Count > 0)
            {
                await inFlight.Dequeue();
                Sent++;
                LastSendCompleted = Stopwatch.GetTimestamp();
            }
        }
    }
}

/// <summary>
/// What one receiver got from one sender whose sequence numbers count up from 0: distinct, duplicated and out-of-order
/// messages, and when the last new one arrived. Not thread-safe: SignalR runs one connection's handlers one at a time.
/// </summary>
public sealed class SequenceTracker
{
    private byte[] _seen = new byte[4096];
    private long _highest = -1;
    private long _distinct;
    private long _lastReceived;

    public long Distinct => Volatile.Read(ref _distinct);

    public long Duplicates { get; private set; }

    /// <summary>Messages that arrived after one with a higher sequence number.</summary>
    public long Reordered { get; private set; }

    public long LastReceived => Volatile.Read(ref _lastReceived);

    /// <summary>Records one arrival; true when it is the first of this sequence number.</summary>
    public bool Record(long seq, long timestamp)
    {
        if (seq < 0 || seq > int.MaxValue / 2)
        {
            Duplicates++;
            return false;
        }
        if (seq >= _seen.Length)
        {
            Array.Resize(ref _seen, (int)Math.Max(_seen.Length * 2L, seq + 1));
        }
        if (_seen[seq] != 0)
        {
            Duplicates++;
            return false;
        }
        _seen[seq] = 1;
        if (seq < _highest)
        {
            Reordered++;
        }
        else
        {
            _highest = seq;
        }
        Volatile.Write(ref _lastReceived, timestamp);
        Volatile.Write(ref _distinct, _distinct + 1);
        return true;
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;

namespace SqliteBackplane.Benchmarks;

/// <summary>How big each scenario is: <c>all</c> (the full suite) or <c>smoke</c> (a short run that only checks the harness works).</summary>
public sealed record Plan(
    bool Smoke,
    int[] LoadRates, double LoadSeconds, double LoadWarmupSeconds, double FloodSeconds, int FloodWarmupMessages, string[] LoadSetups,
    int[] LatencyRates, double LatencySeconds, double LatencyWarmupSeconds, int LatencySenders, string[] LatencySetups,
    int ThroughputMessages, string[] ThroughputSetups,
    (int Connections, int Messages)[] FanOut, string[] FanOutSetups,
    int StallSeconds, string[] StallSetups,
    int IdleSeconds, string[] IdleSetups)
{
    public static Plan Full { get; } = new(
        Smoke: false,
        LoadRates: [1000, 10000], LoadSeconds: 10, LoadWarmupSeconds: 2, FloodSeconds: 5, FloodWarmupMessages: 500,
        LoadSetups: ["none:1", "redis:2", "sqlite:2", "sqlite-resume:2"],
        LatencyRates: [1000, 10000], LatencySeconds: 10, LatencyWarmupSeconds: 2, LatencySenders: 2,
        LatencySetups: ["none:1", "redis:2", "sqlite:2", "sqlite:1", "sqlite-poll:2"],
        ThroughputMessages: 200_000, ThroughputSetups: ["none:1", "redis:2", "sqlite:1", "sqlite:2", "sqlite:4", "sqlite:2:1", "sqlite:4:1", "sqlite-poll:1", "sqlite-poll:2", "sqlite-poll:4"],
        FanOut: [(100, 20_000), (1000, 2000)], FanOutSetups: ["none:1", "sqlite:1", "sqlite:2", "sqlite-poll:2"],
        StallSeconds: 10, StallSetups: ["none:1", "sqlite:1", "sqlite:4", "sqlite-poll:4"],
        IdleSeconds: 30, IdleSetups: ["none:1", "sqlite:2", "sqlite-poll:2"]);

    /// <summary>Every scenario once, tiny: proves the harness works (CI runs it); its figures mean nothing.</summary>
    public static Plan SmokePlan { get; } = new(
        Smoke: true,
        LoadRates: [1000], LoadSeconds: 1, LoadWarmupSeconds: 0.3, FloodSeconds: 1, FloodWarmupMessages: 50,
        LoadSetups: ["none:1", "redis:2", "sqlite:2", "sqlite-resume:2"],
        LatencyRates: [1000], LatencySeconds: 1, LatencyWarmupSeconds: 0.3, LatencySenders: 2,
        LatencySetups: ["sqlite:2"],
        ThroughputMessages: 5_000, ThroughputSetups: ["sqlite:2"],
        FanOut: [(20, 100)], FanOutSetups: ["sqlite:2"],
        StallSeconds: 1, StallSetups: ["sqlite:2"],
        IdleSeconds: 2, IdleSetups: ["sqlite:2"]);
}

/// <summary>Starts servers, drives clients, and records results: the load shapes of issue 12 (L, F) and the scenarios of issue 3.</summary>
public sealed partial class Driver : IAsyncDisposable
{
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Latency senders each send at most this many messages per second.</summary>
    private static readonly int LatencyRatePerSender = int.TryParse(Environment.GetEnvironmentVariable("BENCH_RATE_PER_SENDER"), out var r) ? r : 200;

    /// <summary>Concurrent send loops per publishing server in the throughput scenario (BENCH_PUBLISH_CONCURRENCY overrides).</summary>
    private static readonly int PublishConcurrency = int.TryParse(Environment.GetEnvironmentVariable("BENCH_PUBLISH_CONCURRENCY"), out var c) ? c : 64;

    private readonly Plan _plan;
    private readonly string _workDir;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromMinutes(3) };
    private int _dbCounter;
    private bool _redisSkipReported;

    public Driver(Plan plan)
    {
        _plan = plan;
        _workDir = Path.Combine(Path.GetTempPath(), $"sqlite-backplane-bench-{Environment.ProcessId}");
        Directory.CreateDirectory(_workDir);
    }

    public List<Result> Results { get; } = [];

    public List<string> Problems { get; } = [];

    /// <summary>Setups not measured, and why (e.g. no redis-server on this machine).</summary>
    public List<string> Skipped { get; } = [];

    /// <summary>Scenario names the driver knows, in the order <c>all</c> runs them.</summary>
    public static readonly string[] ScenarioNames = ["L", "F", "latency", "throughput", "fanout", "stall", "idle"];

    public async Task RunAsync(string[] scenarios, int rounds)
    {
        var all = scenarios.Length == 0;
        if (all || scenarios.Contains("L") || scenarios.Contains("F"))
        {
            await Guarded("load shapes", () => LoadShapesAsync(all || scenarios.Contains("L"), all || scenarios.Contains("F"), rounds));
        }
        if (all || scenarios.Contains("latency"))
        {
            await Guarded("latency", LatencyAsync);
        }
        if (all || scenarios.Contains("throughput"))
        {
            await Guarded("throughput", ThroughputAsync);
        }
        if (all || scenarios.Contains("fanout"))
        {
            await Guarded("fanout", FanOutAsync);
        }
        if (all || scenarios.Contains("stall"))
        {
            await Guarded("stall", StallAsync);
        }
        if (all || scenarios.Contains("idle"))
        {
            await Guarded("idle", IdleAsync);
        }
    }

    private async Task Guarded(string name, Func<Task> scenario)
    {
        Log($"== {name}");
        try
        {
            await scenario();
        }
        catch (Exception ex)
        {
            Problems.Add($"{name}: crashed: {ex.GetType().Name}: {ex.Message}");
            Log($"{name} failed: {ex}");
        }
    }

    // ---------------------------------------------------------------- 1. latency

    private async Task LatencyAsync()
    {
        foreach (var rate in _plan.LatencyRates)
        {
            Result? floor = null;
            foreach (var spec in Selected(_plan.LatencySetups))
            {
                var (mode, processes) = ParseSetup(spec);
                var result = await LatencyOnceAsync(mode, processes, rate);
                if (mode == "none")
                {
                    floor = result;
                }
                else if (floor is not null)
                {
                    var m = result.Metrics;
                    m["floor_p50"] = floor.Metrics["p50"];
                    m["floor_p99"] = floor.Metrics["p99"];
                    m["p50_ratio"] = m["p50"] / floor.Metrics["p50"];
                    m["p99_ratio"] = m["p99"] / floor.Metrics["p99"];
                    m["added_p50"] = m["p50"] - floor.Metrics["p50"];
                    m["added_p99"] = m["p99"] - floor.Metrics["p99"];
                }
                Results.Add(result);
                Log(Describe(result));
            }
        }
    }

    private async Task<Result> LatencyOnceAsync(string mode, int processes, int rate)
    {
        await using var servers = await ServerSet.StartAsync(mode, processes, NewDb(), this);
        var warmup = (int)(rate * _plan.LatencyWarmupSeconds);
        var measured = (int)(rate * _plan.LatencySeconds);
        var latencies = new long[measured];
        Array.Fill(latencies, -1);
        var received = 0;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var clients = new List<HubConnection>();
        try
        {
            // The receiver is on the last server (another process than the senders' whenever there are two).
            var receiver = CreateConnection(servers[^1].HubUri);
            receiver.On<long, long>(BenchHub.LatencyMethod, (sentAt, seq) =>
            {
                var now = Stopwatch.GetTimestamp();
                if (seq >= warmup && seq - warmup < measured)
                {
                    latencies[seq - warmup] = now - sentAt;
                    if (Interlocked.Increment(ref received) == measured)
                    {
                        done.TrySetResult();
                    }
                }
            });
            clients.Add(receiver);
            // Each sender's invocations run one at a time on the server (SignalR's default), and each awaits its
            // broadcast; so the load is spread over several senders at a modest per-connection rate, like many users.
            var senders = new List<HubConnection>();
            var senderCount = Math.Max(_plan.LatencySenders, rate / LatencyRatePerSender);
            for (var i = 0; i < senderCount; i++)
            {
                var sender = CreateConnection(servers[0].SendHubUri);
                senders.Add(sender);
                clients.Add(sender);
            }
            await Task.WhenAll(clients.Select(c => c.StartAsync()));

            // Open loop: message i is due at start + i / rate, whatever happened to earlier ones.
            var total = warmup + measured;
            var start = Stopwatch.GetTimestamp();
            for (var i = 0; i < total; i++)
            {
                var due = start + (long)i * Stopwatch.Frequency / rate;
                var now = Stopwatch.GetTimestamp();
                if (due > now)
                {
                    await Task.Delay(TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond, (due - now) * TimeSpan.TicksPerSecond / Stopwatch.Frequency)));
                }
                await senders[i % senders.Count].SendAsync(nameof(SendHub.Broadcast), Stopwatch.GetTimestamp(), (long)i);
            }
            var sendSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            await Task.WhenAny(done.Task, Task.Delay(TimeSpan.FromSeconds(10)));

            var samples = latencies.Where(l => l >= 0).Select(l => l * 1000.0 / Stopwatch.Frequency).OrderBy(l => l).ToArray();
            servers.CheckAlive();
            return new Result("latency", Setups.Name(mode, processes), rate.ToString(CultureInfo.InvariantCulture), new()
            {
                ["rate"] = rate,
                ["senders"] = senderCount,
                ["achieved_rate"] = total / sendSeconds,
                ["p50"] = Stats.Percentile(samples, 50),
                ["p99"] = Stats.Percentile(samples, 99),
                ["p999"] = Stats.Percentile(samples, 99.9),
                ["max"] = samples.Length > 0 ? samples[^1] : double.NaN,
                ["received"] = samples.Length,
                ["lost"] = measured - samples.Length,
            });
        }
        finally
        {
            await DisposeAllAsync(clients);
        }
    }

    // ---------------------------------------------------------------- 2. throughput

    private async Task ThroughputAsync()
    {
        Result? floor = null;
        foreach (var spec in Selected(_plan.ThroughputSetups))
        {
            // "mode:processes:1" puts a single receiver on the last server instead of one on every server.
            var (mode, processes) = ParseSetup(spec);
            var oneReceiver = spec.Split(':').Length > 2;
            var result = await ThroughputOnceAsync(mode, processes, oneReceiver);
            if (mode == "none")
            {
                floor = result;
            }
            else if (floor is not null)
            {
                result.Metrics["ratio"] = result.Metrics["msgs_per_s"] / floor.Metrics["msgs_per_s"];
            }
            Results.Add(result);
            Log(Describe(result));
        }
    }

    private async Task<Result> ThroughputOnceAsync(string mode, int processes, bool oneReceiver)
    {
        await using var servers = await ServerSet.StartAsync(mode, processes, NewDb(), this);
        var perSender = _plan.ThroughputMessages / processes;
        var total = perSender * processes;
        var receivers = new List<CountingReceiver>();
        try
        {
            foreach (var server in oneReceiver ? [servers[^1]] : servers.ToList())
            {
                receivers.Add(new CountingReceiver(CreateConnection(server.HubUri), processes, perSender));
            }
            await Task.WhenAll(receivers.Select(r => r.Connection.StartAsync()));
            await WarmUpAsync(servers, receivers);

            var serverCpuBefore = servers.Sum(s => s.CpuTicks());
            var driverCpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var start = Stopwatch.GetTimestamp();
            var floods = servers.Select((s, i) => FloodAsync(s, perSender, concurrency: PublishConcurrency, sender: i)).ToList();
            await Task.WhenAll(floods);
            var publishSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            var end = await WaitForAllAsync(receivers);
            // CPU per message, so the figures can be compared with the 2 cores this machine has.
            var serverCpuUs = (servers.Sum(s => s.CpuTicks()) - serverCpuBefore) * 1e6 / (OperatingSystem.IsLinux() ? ClockTicksPerSecond() : 100);
            var driverCpuUs = (Process.GetCurrentProcess().TotalProcessorTime - driverCpuBefore).TotalMicroseconds;
            var seconds = (end - start) / (double)Stopwatch.Frequency;
            var lost = receivers.Sum(r => (long)r.Expected - r.Distinct);
            servers.CheckAlive();
            if (lost > 0)
            {
                Problems.Add($"throughput {Setups.Name(mode, processes)}{(oneReceiver ? Setups.OneReceiverSuffix : "")}: {lost} deliveries lost");
            }
            return new Result("throughput", Setups.Name(mode, processes) + (oneReceiver ? Setups.OneReceiverSuffix : ""), processes.ToString(CultureInfo.InvariantCulture), new()
            {
                ["processes"] = processes,
                ["messages"] = total,
                ["msgs_per_s"] = total / seconds,
                ["deliveries_per_s"] = receivers.Sum(r => (double)r.Distinct) / seconds,
                ["publish_side_per_s"] = total / publishSeconds,
                ["lost"] = lost,
                ["dups"] = receivers.Sum(r => (double)r.Duplicates),
                ["server_cpu_us_per_msg"] = serverCpuUs / total,
                ["driver_cpu_us_per_msg"] = driverCpuUs / total,
            });
        }
        finally
        {
            await DisposeAllAsync(receivers.Select(r => r.Connection));
        }
    }

    /// <summary>JIT and connection warm-up: a few messages from every server that receivers count separately.</summary>
    private async Task WarmUpAsync(ServerSet servers, IReadOnlyList<CountingReceiver> receivers)
    {
        // Long enough for tiered compilation to finish on the hot paths (a few thousand calls each).
        var before = receivers.Select(r => r.Ignored).ToArray();
        var count = _plan.Smoke ? 500 : 20_000 / servers.Count;
        await Task.WhenAll(servers.Select((s, i) => FloodAsync(s, count, concurrency: PublishConcurrency, sender: CountingReceiver.WarmupSender)));
        var expected = count * servers.Count;
        var deadline = Stopwatch.GetTimestamp() + 10 * Stopwatch.Frequency;
        while (Stopwatch.GetTimestamp() < deadline && receivers.Select((r, i) => r.Ignored - before[i]).Any(n => n < expected))
        {
            await Task.Delay(10);
        }
    }

    // ---------------------------------------------------------------- 3. fan-out and memory per connection

    private async Task FanOutAsync()
    {
        foreach (var (connections, messages) in _plan.FanOut)
        {
            Result? floor = null;
            foreach (var spec in Selected(_plan.FanOutSetups))
            {
                var (mode, processes) = ParseSetup(spec);
                var result = await FanOutOnceAsync(mode, processes, connections, messages);
                if (mode == "none")
                {
                    floor = result;
                }
                else if (floor is not null)
                {
                    result.Metrics["ratio"] = result.Metrics["deliveries_per_s"] / floor.Metrics["deliveries_per_s"];
                    result.Metrics["rss_ratio"] = result.Metrics["rss_per_1000_mb"] / floor.Metrics["rss_per_1000_mb"];
                }
                Results.Add(result);
                Log(Describe(result));
            }
        }
    }

    private async Task<Result> FanOutOnceAsync(string mode, int processes, int connections, int messages)
    {
        await using var servers = await ServerSet.StartAsync(mode, processes, NewDb(), this);
        var receivers = new List<CountingReceiver>();
        try
        {
            var rssBefore = 0L;
            foreach (var server in servers)
            {
                rssBefore += await SettledRssAsync(server);
            }
            for (var i = 0; i < connections; i++)
            {
                receivers.Add(new CountingReceiver(CreateConnection(servers[i % servers.Count].HubUri), senders: 1, perSender: messages));
            }
            using (var gate = new SemaphoreSlim(16))
            {
                await Task.WhenAll(receivers.Select(async r =>
                {
                    await gate.WaitAsync();
                    try
                    {
                        await r.Connection.StartAsync();
                    }
                    finally
                    {
                        gate.Release();
                    }
                }));
            }
            var rssAfter = 0L;
            foreach (var server in servers)
            {
                rssAfter += await SettledRssAsync(server);
            }
            await WarmUpFanOutAsync(servers[0], receivers);

            var start = Stopwatch.GetTimestamp();
            await FloodAsync(servers[0], messages, concurrency: 8, sender: 0);
            var end = await WaitForAllAsync(receivers);
            var seconds = (end - start) / (double)Stopwatch.Frequency;
            var delivered = receivers.Sum(r => (long)r.Distinct);
            var lost = (long)connections * messages - delivered;
            servers.CheckAlive();
            if (lost > 0)
            {
                Problems.Add($"fanout {Setups.Name(mode, processes)} {connections} connections: {lost} deliveries lost");
            }
            return new Result("fanout", Setups.Name(mode, processes), connections.ToString(CultureInfo.InvariantCulture), new()
            {
                ["connections"] = connections,
                ["messages"] = messages,
                ["deliveries_per_s"] = delivered / seconds,
                ["lost"] = lost,
                ["rss_per_1000_mb"] = (rssAfter - rssBefore) / (double)connections * 1000 / (1024 * 1024),
            });
        }
        finally
        {
            await DisposeAllAsync(receivers.Select(r => r.Connection));
        }
    }

    /// <summary>Waits (bounded) until every receiver has every message; returns when the last one arrived, or now on timeout.</summary>
    private static async Task<long> WaitForAllAsync(IReadOnlyList<CountingReceiver> receivers)
    {
        var all = Task.WhenAll(receivers.Select(r => r.Done));
        if (await Task.WhenAny(all, Task.Delay(DrainTimeout)) == all)
        {
            return receivers.Max(r => r.LastReceived);
        }
        return Stopwatch.GetTimestamp();
    }

    private async Task WarmUpFanOutAsync(ServerProcess publisher, IReadOnlyList<CountingReceiver> receivers)
    {
        var count = _plan.Smoke ? 20 : 100;
        await FloodAsync(publisher, count, concurrency: 8, sender: CountingReceiver.WarmupSender);
        var deadline = Stopwatch.GetTimestamp() + 20 * Stopwatch.Frequency;
        while (Stopwatch.GetTimestamp() < deadline && receivers.Any(r => r.Ignored < count))
        {
            await Task.Delay(10);
        }
    }

    private async Task<long> SettledRssAsync(ServerProcess server)
    {
        await Task.Delay(500);
        await _http.GetStringAsync(new Uri(server.BaseUri, "/gc"));
        await Task.Delay(200);
        return server.RssBytes();
    }

    // ---------------------------------------------------------------- 4. commit stalls

    private async Task StallAsync()
    {
        foreach (var (load, rate) in new[] { ("flat out", 0), ("1000/s each", 1000) })
        {
            foreach (var spec in Selected(_plan.StallSetups))
            {
                var (mode, processes) = ParseSetup(spec);
                await using var servers = await ServerSet.StartAsync(mode, processes, NewDb(), this);
                // Warm up each writer, then every process sends to all connections for the same window.
                await Task.WhenAll(servers.Select(s => FloodAsync(s, _plan.Smoke ? 500 : 5000, concurrency: 4, sender: CountingReceiver.WarmupSender)));
                var durationMs = _plan.StallSeconds * 1000;
                var count = rate > 0 ? rate * _plan.StallSeconds : 5_000_000;
                var start = Stopwatch.GetTimestamp();
                var floods = await Task.WhenAll(servers.Select(s => FloodAsync(s, count, concurrency: 4, sender: 0, durationMs, rate, samples: true)));
                var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                servers.CheckAlive();
                var samples = floods.SelectMany(f => f.SendMicroseconds!).Select(us => us / 1000.0).OrderBy(x => x).ToArray();
                var result = new Result("stall", Setups.Name(mode, processes), load, new()
                {
                    ["writers"] = processes,
                    ["sends"] = samples.Length,
                    ["sends_per_s"] = samples.Length / seconds,
                    ["p50"] = Stats.Percentile(samples, 50),
                    ["p99"] = Stats.Percentile(samples, 99),
                    ["p999"] = Stats.Percentile(samples, 99.9),
                    ["max"] = samples.Length > 0 ? samples[^1] : double.NaN,
                    ["over_100ms"] = samples.Count(s => s >= 100),
                });
                Results.Add(result);
                Log(Describe(result));
            }
        }
    }

    // ---------------------------------------------------------------- 5. idle CPU

    private async Task IdleAsync()
    {
        var sets = new List<(string Mode, int Processes, ServerSet Servers)>();
        try
        {
            foreach (var spec in Selected(_plan.IdleSetups))
            {
                var (mode, processes) = ParseSetup(spec);
                sets.Add((mode, processes, await ServerSet.StartAsync(mode, processes, NewDb(), this)));
            }
            // Let start-up work (JIT, schema, first heartbeats) finish, then measure every process over the same window.
            // Two windows: soon after start-up, and in the steady state. Code that runs on timers (the safety poll,
            // heartbeats every 2 s) keeps being tiered up by the JIT for about a minute after start (measured: a
            // backplane process idles at ~0.7% of a core 20-50 s after start and ~0.3% from 80 s on).
            var started = Stopwatch.GetTimestamp();
            var early = await MeasureCpuAsync(sets, settle: TimeSpan.FromSeconds(_plan.Smoke ? 1 : 20), started);
            var steady = _plan.Smoke ? early : await MeasureCpuAsync(sets, settle: TimeSpan.FromSeconds(90), started);
            foreach (var (mode, processes, servers) in sets)
            {
                servers.CheckAlive();
                var cpu = servers.Select(p => steady[p.Pid]).ToList();
                var result = new Result("idle", Setups.Name(mode, processes), "idle", new()
                {
                    ["processes"] = processes,
                    ["cpu_pct_early"] = servers.Max(p => early[p.Pid]),
                    ["cpu_pct"] = cpu.Average(),
                    ["cpu_pct_max"] = cpu.Max(),
                    ["rss_mb"] = servers.Average(p => p.RssBytes()) / (1024 * 1024),
                });
                Results.Add(result);
                Log(Describe(result));
            }
        }
        finally
        {
            foreach (var set in sets)
            {
                await set.Servers.DisposeAsync();
            }
        }
    }

    // CPU % of a core per process over IdleSeconds, starting `settle` after `started`.
    private async Task<Dictionary<int, double>> MeasureCpuAsync(List<(string Mode, int Processes, ServerSet Servers)> sets, TimeSpan settle, long started)
    {
        var wait = settle - Stopwatch.GetElapsedTime(started);
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait);
        }

        var all = sets.SelectMany(s => s.Servers).ToList();
        var before = all.ToDictionary(p => p.Pid, p => p.CpuTicks());
        var start = Stopwatch.GetTimestamp();
        await Task.Delay(TimeSpan.FromSeconds(_plan.IdleSeconds));
        var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var ticksPerSecond = OperatingSystem.IsLinux() ? ClockTicksPerSecond() : 100;
        return all.ToDictionary(p => p.Pid, p => (p.CpuTicks() - before[p.Pid]) / ticksPerSecond / seconds * 100);
    }

    private static double ClockTicksPerSecond()
    {
        try
        {
            using var getconf = Process.Start(new ProcessStartInfo("getconf", "CLK_TCK") { RedirectStandardOutput = true })!;
            var text = getconf.StandardOutput.ReadToEnd().Trim();
            getconf.WaitForExit();
            return double.Parse(text, CultureInfo.InvariantCulture);
        }
        catch (Exception)
        {
            return 100;
        }
    }

    // ---------------------------------------------------------------- helpers

    private async Task<FloodResult> FloodAsync(ServerProcess server, int count, int concurrency, int sender, int durationMs = 0, int rate = 0, bool samples = false)
    {
        var uri = new Uri(server.BaseUri, FormattableString.Invariant(
            $"/flood?count={count}&concurrency={concurrency}&sender={sender}&durationMs={durationMs}&rate={rate}&samples={(samples ? "true" : "false")}"));
        return await _http.GetFromJsonAsync<FloodResult>(uri) ?? throw new InvalidOperationException("Empty flood result.");
    }

    /// <summary>The official .NET client as an application uses it: negotiate, then WebSockets, JSON protocol.</summary>
    /// With <paramref name="resume"/>, the client opts in to resume through the SqliteBackplane.Client helper.
    internal static HubConnection CreateConnection(Uri hubUri, bool resume = false)
    {
        var builder = new HubConnectionBuilder().WithUrl(hubUri, HttpTransportType.WebSockets);
        if (resume)
        {
            builder.WithSqliteBackplaneResume();
        }

        var connection = builder.Build();
        connection.ServerTimeout = TimeSpan.FromMinutes(2);
        return connection;
    }

    private static async Task DisposeAllAsync(IEnumerable<HubConnection> connections)
    {
        var all = Task.WhenAll(connections.Select(async c =>
        {
            try
            {
                await c.DisposeAsync();
            }
            catch (Exception)
            {
                // Shutting down; nothing to measure here.
            }
        }));
        await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(15)));
    }

    /// <summary>
    /// BENCH_SETUPS (e.g. "sqlite:4,none:1") limits a run to some setups, for investigation. Redis setups are left out,
    /// with the reason printed once, when redis-server is absent.
    /// </summary>
    private IEnumerable<string> Selected(string[] specs)
    {
        var only = Environment.GetEnvironmentVariable("BENCH_SETUPS");
        var selected = string.IsNullOrEmpty(only) ? specs : specs.Where(s => only.Split(',').Contains(s)).ToArray();
        if (RedisServer.UnavailableReason is { } reason && selected.Any(s => s.StartsWith("redis:", StringComparison.Ordinal)))
        {
            if (!_redisSkipReported)
            {
                _redisSkipReported = true;
                Log($"SKIPPED: {reason}");
                Skipped.Add(reason);
            }
            selected = selected.Where(s => !s.StartsWith("redis:", StringComparison.Ordinal)).ToArray();
        }
        return selected;
    }

    private string NewDb() => Path.Combine(_workDir, $"bench-{Interlocked.Increment(ref _dbCounter)}.db");

    private static (string Mode, int Processes) ParseSetup(string spec)
    {
        var parts = spec.Split(':');
        return (parts[0], int.Parse(parts[1], CultureInfo.InvariantCulture));
    }

    internal void ReportCrash(ServerProcess server)
    {
        var tail = string.Join(" / ", server.StandardErrorLines.TakeLast(5));
        Problems.Add($"server {server.Name} (pid {server.Pid}) exited unexpectedly: {tail}");
    }

    internal static void Log(string message) => Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {message}");

    private static string Describe(Result r) =>
        $"{r.Scenario} | {r.Setup} | {r.Param} | " + string.Join(", ", r.Metrics.Select(kv => $"{kv.Key}={kv.Value.ToString("G4", CultureInfo.InvariantCulture)}"));

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await Task.Yield();
        try
        {
            Directory.Delete(_workDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>The server processes of one setup, all on one database file.</summary>
public sealed class ServerSet : List<ServerProcess>, IAsyncDisposable
{
    private Driver? _driver;
    private RedisServer? _redis;

    public static async Task<ServerSet> StartAsync(string mode, int processes, string db, Driver driver)
    {
        var set = new ServerSet { _driver = driver };
        try
        {
            // The Redis setup: one fresh redis-server for this set's processes (no state carried between measurements).
            string? redis = null;
            if (mode == "redis")
            {
                set._redis = await RedisServer.StartAsync();
                redis = set._redis.Address;
            }
            // One after another: the first creates the schema. A server that fails to start is reported (the run
            // then exits non-zero) and started once more, so the other figures are still measured.
            for (var i = 0; i < processes; i++)
            {
                var name = $"{mode}-{i}";
                ServerProcess server;
                try
                {
                    server = await ServerProcess.StartAsync(mode, DbFor(mode, db), name, redis);
                }
                catch (InvalidOperationException ex)
                {
                    driver.Problems.Add($"server {name} failed to start: {ex.Message.Split(Environment.NewLine)[0]} {FirstFailure(ex.Message)}");
                    Driver.Log($"server {name} failed to start, retrying once: {ex.Message}");
                    server = await ServerProcess.StartAsync(mode, DbFor(mode, db), name, redis);
                }
                set.Add(server);
            }
            return set;
        }
        catch
        {
            await set.DisposeAsync();
            throw;
        }
    }

    private static string? DbFor(string mode, string db) => mode is "sqlite" or "sqlite-poll" or "sqlite-resume" ? db : null;

    private static string FirstFailure(string log) =>
        log.Split(Environment.NewLine).FirstOrDefault(l => l.Contains("fail:", StringComparison.Ordinal) || l.Contains("Exception", StringComparison.Ordinal)) ?? "";

    /// <summary>Throws when a server has died during the measurement.</summary>
    public void CheckAlive()
    {
        foreach (var server in this.Where(s => s.Crashed))
        {
            _driver?.ReportCrash(server);
            throw new InvalidOperationException($"Server {server.Name} crashed during the measurement.");
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var server in this)
        {
            var warnings = server.StandardErrorLines.Where(l => l.Contains("warn:", StringComparison.Ordinal) || l.Contains("fail:", StringComparison.Ordinal) || l.Contains("crit:", StringComparison.Ordinal)).ToList();
            if (warnings.Count > 0)
            {
                Driver.Log($"server {server.Name} logged {warnings.Count} warnings/errors, first: {warnings[0]}");
            }
        }
        await Task.WhenAll(this.Select(s => s.DisposeAsync().AsTask()));
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }
}

/// <summary>A client that counts (sender, seq) messages, so lost and duplicated deliveries are found.</summary>
public sealed class CountingReceiver
{
    public const int WarmupSender = 1000;

    private readonly byte[][] _seen;
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _distinct;
    private int _duplicates;
    private int _ignored;
    private long _lastReceived;

    public CountingReceiver(HubConnection connection, int senders, int perSender)
    {
        Connection = connection;
        Expected = senders * perSender;
        _seen = Enumerable.Range(0, senders).Select(_ => new byte[perSender]).ToArray();
        if (Expected == 0)
        {
            _done.TrySetResult();
        }
        // SignalR runs one connection's handlers one at a time, so the counts need no lock per connection.
        connection.On<int, long>(BenchHub.CountMethod, (sender, seq) =>
        {
            if (sender == WarmupSender)
            {
                Interlocked.Increment(ref _ignored);
                return;
            }
            if (sender < 0 || sender >= _seen.Length || seq < 0 || seq >= _seen[sender].Length)
            {
                Interlocked.Increment(ref _duplicates);
                return;
            }
            if (_seen[sender][seq]++ != 0)
            {
                Interlocked.Increment(ref _duplicates);
                return;
            }
            Volatile.Write(ref _lastReceived, Stopwatch.GetTimestamp());
            if (Interlocked.Increment(ref _distinct) == Expected)
            {
                _done.TrySetResult();
            }
        });
    }

    public HubConnection Connection { get; }

    public int Expected { get; }

    public int Distinct => Volatile.Read(ref _distinct);

    public int Duplicates => Volatile.Read(ref _duplicates);

    public int Ignored => Volatile.Read(ref _ignored);

    public long LastReceived => Volatile.Read(ref _lastReceived);

    public Task Done => _done.Task;
}

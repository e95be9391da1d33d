using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;

namespace SqliteBackplane.Benchmarks;

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
    public static readonly string[] ScenarioNames = ["L", "F", "Fp", "Fd", "Fo", "latency", "throughput", "fanout", "stall", "idle"];

    public async Task RunAsync(string[] scenarios, int rounds)
    {
        var all = scenarios.Length == 0;
        if (all || scenarios.Contains("L") || scenarios.Contains("F") || scenarios.Contains("Fp"))
        {
            await Guarded("load shapes", () => LoadShapesAsync(all || scenarios.Contains("L"), all || scenarios.Contains("F"), all || scenarios.Contains("Fp"), rounds));
        }
        if (all || scenarios.Contains("Fd"))
        {
            await Guarded("flood with the dashboard open", () => FloodWithDashboardAsync(rounds));
        }
        if (all || scenarios.Contains("Fo"))
        {
            await Guarded("fan-out of a broadcast", () => BroadcastFanOutAsync(rounds));
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

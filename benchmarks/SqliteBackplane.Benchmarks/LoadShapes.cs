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
/// the hub method) for a few seconds; all 4 receive every message. Each round's loss and drain are reported.</item>
/// <item><b>Fp</b>, F by processes: the same 4 clients spread over 1, 2, 4 or 8 processes (processes beyond the
/// fourth hold no client: what a process pays for rows it delivers to nobody), against the floor (1 process) and
/// Redis with as many processes.</item>
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
    /// Invocations each F client keeps in flight (BENCH_F_WINDOW, default 16; 0 floods with SendAsync instead, fire and
    /// forget, as issue 20 first measured it). An invocation completes when the hub
    /// method has returned on the server, so a completed call is a message the server accepted; the server runs one
    /// connection's invocations one at a time, so a window only keeps the next ones waiting at the server instead of
    /// on a loopback round trip and the client's scheduling (with a window of 1, measured: the flood is bound by those
    /// round trips, and an idle-spinning server's CPU per message means nothing). The window bounds what a client has
    /// outstanding, so no buffer can hide a backlog the way unbounded SendAsync calls would (they complete once
    /// written to the socket, and the socket buffers hold tens of thousands of messages).
    /// </summary>
    private static readonly int FloodWindow = int.TryParse(Environment.GetEnvironmentVariable("BENCH_F_WINDOW"), out var w) && w >= 0 ? w : 16;

    /// <summary>Latency quantiles kept for the distribution charts (100 = the maximum).</summary>
    internal static readonly double[] CurveQuantiles = [10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100];

    internal static string QuantileKey(double q) => "q_" + q.ToString(CultureInfo.InvariantCulture);

    private async Task LoadShapesAsync(bool l, bool f, bool fp, int rounds)
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
            if (fp)
            {
                var results = new List<Result>();
                foreach (var spec in Selected(_plan.FloodProcessSetups))
                {
                    var (mode, processes) = ParseSetup(spec);
                    await GuardedMeasurement($"Fp {spec}", async () => results.Add(await ClientsFloodAsync(mode, processes, round, "Fp")));
                }
                AddRatios(results, "published_per_s", "deliveries_per_s", "drain_s", "server_cpu_us_per_delivery");
                ReportAll(results);
            }
        }
    }

    /// <summary>
    /// Scenario Fd (issue 19's cost): F on 2 processes with and without the dashboard mapped and one page's event stream
    /// open on each process, interleaved round by round. <c>dashboard_cost</c> is the share of deliveries/s lost to it
    /// in the same round.
    /// </summary>
    private async Task FloodWithDashboardAsync(int rounds)
    {
        for (var round = 1; round <= rounds; round++)
        {
            Log($"== flood with the dashboard open, round {round} of {rounds}");
            var results = new List<Result>();
            foreach (var spec in Selected(_plan.FloodDashboardSetups))
            {
                var (mode, processes) = ParseSetup(spec);
                await GuardedMeasurement($"Fd {spec}", async () => results.Add(await ClientsFloodAsync(mode, processes, round, "Fd")));
            }
            AddRatios(results, "published_per_s", "deliveries_per_s", "drain_s", "server_cpu_us_per_delivery");
            var without = results.FirstOrDefault(r => r.Setup == Setups.SqliteName(2));
            var with = results.FirstOrDefault(r => r.Setup == Setups.DashboardName(2));
            if (without is not null && with is not null && without.Metrics["deliveries_per_s"] > 0)
            {
                with.Metrics["dashboard_cost"] = 1 - with.Metrics["deliveries_per_s"] / without.Metrics["deliveries_per_s"];
            }
            ReportAll(results);
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
}

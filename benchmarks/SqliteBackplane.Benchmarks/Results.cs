using System.Globalization;
using System.Text;
using System.Text.Json;

namespace SqliteBackplane.Benchmarks;

/// <summary>
/// One measured row: a scenario, a setup (backplane mode and process count) and a parameter, with its figures; Round is
/// the round of an interleaved series (scenarios L and F), 0 for the scenarios measured once per run.
/// </summary>
public sealed record Result(string Scenario, string Setup, string Param, Dictionary<string, double> Metrics, int Round = 0);

/// <summary>Everything one run of the driver measured, plus where and when.</summary>
public sealed record RunResults(string Command, string StartedUtc, string Machine, string LoadBefore, string LoadAfter, List<Result> Results, List<string> Problems,
    List<string>? Skipped = null, string? Source = null);

/// <summary>Percentiles of a sample, nearest rank.</summary>
public static class Stats
{
    public static double Percentile(double[] sorted, double p)
    {
        if (sorted.Length == 0)
        {
            return double.NaN;
        }
        var rank = (int)Math.Ceiling(p / 100.0 * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Where(v => !double.IsNaN(v)).OrderBy(v => v).ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }
        var mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}

/// <summary>Renders one run, or the medians and spreads of several runs, as markdown tables.</summary>
public static class Report
{
    private sealed record Column(string Header, string Key, string Format);

    private static readonly (string Scenario, string Title, Column[] Columns)[] Tables =
    [
        ("L", "L. One busy client: one connection on server A sends Broadcast(payload) at a fixed rate (SendAsync); a client on server B receives (ms)",
        [
            new("msg/s", "rate", "N0"), new("achieved send rate", "achieved_rate", "N0"), new("max send lag (ms)", "max_send_lag_ms", "F1"),
            new("p50", "p50", "F3"), new("p90", "p90", "F3"), new("p99", "p99", "F3"), new("p99.9", "p999", "F3"), new("max", "max", "F1"),
            new("p50 / floor", "p50_ratio", "F2"), new("p99 / floor", "p99_ratio", "F2"),
            new("lost", "lost", "N0"), new("duplicates", "dups", "N0"), new("out of order", "reordered", "N0"),
        ]),
        ("F", "F. Clients flood: 4 clients (2 per server) invoke Broadcast(payload) as fast as the server accepts (InvokeAsync, a window of calls in flight per client) for 5 s; all 4 receive everything",
        [
            new("window", "window", "N0"),
            new("published", "published", "N0"), new("published msg/s", "published_per_s", "N0"), new("deliveries/s", "deliveries_per_s", "N0"),
            new("deliveries / floor", "deliveries_per_s_ratio", "F2"), new("last send to last delivery (s)", "drain_s", "F2"),
            new("delivery latency p50 (ms)", "p50", "F1"), new("p99 (ms)", "p99", "F1"), new("max (ms)", "max", "F1"),
            new("server CPU us/msg", "server_cpu_us_per_msg", "F1"),
            new("lost", "lost", "N0"), new("duplicates", "dups", "N0"), new("out of order", "reordered", "N0"),
        ]),
        ("Fp", "Fp. F by processes: the same 4 clients spread over 1, 2, 4 or 8 processes (beyond the fourth, processes hold no client); the floor is one process without a backplane",
        [
            new("processes", "processes", "N0"), new("published msg/s", "published_per_s", "N0"), new("published / floor", "published_per_s_ratio", "F2"),
            new("deliveries/s", "deliveries_per_s", "N0"), new("deliveries / floor", "deliveries_per_s_ratio", "F2"),
            new("last send to last delivery (s)", "drain_s", "F2"), new("server CPU us/msg (all servers)", "server_cpu_us_per_msg", "F1"),
            new("server CPU us/delivery", "server_cpu_us_per_delivery", "F2"), new("us/delivery / floor", "server_cpu_us_per_delivery_ratio", "F2"),
            new("lost", "lost", "N0"), new("duplicates", "dups", "N0"), new("out of order", "reordered", "N0"),
        ]),
        ("Fd", "Fd. F on 2 processes with and without one dashboard page's event stream open on each process; dashboard cost = share of deliveries/s lost with it (same round)",
        [
            new("published msg/s", "published_per_s", "N0"), new("deliveries/s", "deliveries_per_s", "N0"), new("deliveries / floor", "deliveries_per_s_ratio", "F2"),
            new("dashboard cost", "dashboard_cost", "P1"), new("server CPU us/delivery", "server_cpu_us_per_delivery", "F2"),
            new("lost", "lost", "N0"), new("duplicates", "dups", "N0"),
        ]),
        ("Fo", "Fo. Fan-out: a server-side broadcast at 20 msg/s for 10 s to N raw WebSocket connections spread over the processes (ms; KB of server RSS per connection after connecting)",
        [
            new("connections", "connections", "N0"), new("p50", "p50", "F1"), new("p99", "p99", "F1"), new("p99 / floor", "p99_ratio", "F2"),
            new("completion p50", "completion_p50", "F1"), new("completion p99", "completion_p99", "F1"), new("completion p99 / floor", "completion_p99_ratio", "F2"),
            new("completion max", "completion_max", "F1"), new("KB per connection", "kb_per_connection", "F1"), new("KB / floor", "kb_per_connection_ratio", "F2"),
            new("server CPU us/delivery", "server_cpu_us_per_delivery", "F2"), new("lost", "lost", "N0"), new("duplicates", "dups", "N0"),
        ]),
        ("latency", "1. Cross-process latency, end to end (clients on A invoke a hub method that broadcasts; a client on B receives; ms)",
        [
            new("msg/s", "rate", "N0"), new("senders", "senders", "N0"), new("p50", "p50", "F3"), new("p99", "p99", "F3"), new("p99.9", "p999", "F3"), new("max", "max", "F1"),
            new("p50 / floor", "p50_ratio", "F2"), new("p99 / floor", "p99_ratio", "F2"), new("added p50 (ours - floor)", "added_p50", "F3"),
            new("added p99", "added_p99", "F3"), new("received", "received", "N0"), new("not received 10 s after the last send", "lost", "N0"),
        ]),
        ("throughput", "2. Aggregate publish throughput (every server publishes flat out; one receiver per server, or one in all (\"1 receiver\"), counts every message)",
        [
            new("processes", "processes", "N0"), new("messages", "messages", "N0"), new("published msg/s (end to end)", "msgs_per_s", "N0"),
            new("/ floor", "ratio", "F2"), new("deliveries/s", "deliveries_per_s", "N0"), new("commit-side msg/s", "publish_side_per_s", "N0"),
            new("lost", "lost", "N0"), new("duplicates", "dups", "N0"), new("server CPU us/msg (all servers)", "server_cpu_us_per_msg", "F1"),
            new("driver CPU us/msg (clients)", "driver_cpu_us_per_msg", "F1"),
        ]),
        ("fanout", "3. Fan-out (one server-side publisher, Clients.All to N connections)",
        [
            new("connections", "connections", "N0"), new("messages", "messages", "N0"), new("deliveries/s", "deliveries_per_s", "N0"),
            new("/ floor", "ratio", "F2"), new("lost", "lost", "N0"), new("RSS per 1000 conns (MB)", "rss_per_1000_mb", "F1"),
            new("RSS / floor", "rss_ratio", "F2"),
        ]),
        ("stall", "4. Send-call durations (enqueue to commit) of server-side Clients.All sends, N writer processes on one file, 4 send loops each (ms)",
        [
            new("writers", "writers", "N0"), new("sends", "sends", "N0"), new("sends/s", "sends_per_s", "N0"), new("p50", "p50", "F3"),
            new("p99", "p99", "F3"), new("p99.9", "p999", "F3"), new("max", "max", "F1"), new(">= 100 ms", "over_100ms", "N0"),
        ]),
        ("idle", "5. Idle CPU per process (30 s windows, /proc utime+stime; steady state = 90-120 s after start) and idle RSS",
        [
            new("processes", "processes", "N0"), new("CPU % 20-50 s after start (worst process)", "cpu_pct_early", "F3"),
            new("CPU % of a core, steady (mean per process)", "cpu_pct", "F3"), new("CPU %, steady (worst process)", "cpu_pct_max", "F3"),
            new("RSS MB (mean)", "rss_mb", "F1"),
        ]),
    ];

    public static string Render(IReadOnlyList<RunResults> runs)
    {
        var sb = new StringBuilder();
        var multi = runs.Count > 1;
        var rounds = runs.SelectMany(r => r.Results).Select(r => r.Round).DefaultIfEmpty(0).Max();
        if (multi)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"Medians of {runs.Count} runs, spread (min-max) in brackets. Ratios are taken within each run, then the median of those ratios is shown.");
        }
        else
        {
            var run = runs[0];
            sb.AppendLine(CultureInfo.InvariantCulture, $"Command: `{run.Command}`, started {run.StartedUtc} UTC");
            sb.AppendLine(CultureInfo.InvariantCulture, $"Machine: {run.Machine}; load average before: {run.LoadBefore}, after: {run.LoadAfter}");
            if (run.Source is { Length: > 0 } label)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"Source: {label}");
            }
            if (rounds > 1)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"L and F: {rounds} interleaved rounds; medians, spread (min-max) in brackets; ratios to the floor are taken within each round.");
            }
        }
        foreach (var skipped in runs.SelectMany(r => r.Skipped ?? []).Distinct())
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"Skipped: {skipped}");
        }
        sb.AppendLine();
        if (runs.Any(r => r.Results.Any(x => x.Scenario is "L" or "F")))
        {
            sb.Append(LoadShapeTable(runs));
        }

        foreach (var (scenario, title, columns) in Tables)
        {
            var keys = new List<(string Setup, string Param)>();
            foreach (var run in runs)
            {
                foreach (var r in run.Results.Where(r => r.Scenario == scenario))
                {
                    if (!keys.Contains((r.Setup, r.Param)))
                    {
                        keys.Add((r.Setup, r.Param));
                    }
                }
            }
            if (keys.Count == 0)
            {
                continue;
            }
            sb.AppendLine(CultureInfo.InvariantCulture, $"### {title}");
            sb.AppendLine();
            var showParam = scenario == "stall";
            sb.AppendLine("| Setup | " + (showParam ? "load | " : "") + string.Join(" | ", columns.Select(c => c.Header)) + " |");
            sb.AppendLine("|---|" + (showParam ? "---|" : "") + string.Concat(columns.Select(_ => "---|")));
            foreach (var (setup, param) in keys)
            {
                // Every run and every round of a run is one value; the cell shows their median (and spread).
                var rows = runs.SelectMany(run => run.Results.Where(r => r.Scenario == scenario && r.Setup == setup && r.Param == param)).ToList();
                var cells = columns.Select(c =>
                {
                    var values = rows.Where(r => r.Metrics.ContainsKey(c.Key)).Select(r => r.Metrics[c.Key]).ToList();
                    return Cell(values, c.Format, multi || rows.Count > 1);
                });
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {setup} | {(showParam ? param + " | " : "")}{string.Join(" | ", cells)} |");
            }
            sb.AppendLine();
        }

        AppendFloodRounds(sb, runs);

        if (!runs.Any(r => r.Results.Any(x => x.Scenario is "latency" or "throughput" or "fanout" or "stall" or "idle")))
        {
            AppendProblems(sb, runs);
            return sb.ToString();
        }

        sb.AppendLine("### Targets (issue 3)");
        sb.AppendLine();
        sb.AppendLine("| Target | Measured" + (multi ? " (median of runs)" : "") + " | Met? |");
        sb.AppendLine("|---|---|---|");
        foreach (var (target, measured, met) in Targets(runs))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {target} | {measured} | {met} |");
        }
        sb.AppendLine();

        AppendProblems(sb, runs);
        return sb.ToString();
    }

    /// <summary>
    /// Every round of F and Fp on its own line: a loss or a long drain in one round must show, not hide in a median.
    /// </summary>
    private static void AppendFloodRounds(StringBuilder sb, IReadOnlyList<RunResults> runs)
    {
        var rows = runs.SelectMany((run, i) => run.Results.Where(r => r.Scenario is "F" or "Fp").Select(r => (Run: i + 1, Result: r))).ToList();
        if (rows.Count == 0)
        {
            return;
        }
        string V(Result r, string key, string format) => r.Metrics.TryGetValue(key, out var v) && !double.IsNaN(v) ? v.ToString(format, CultureInfo.InvariantCulture) : "-";
        sb.AppendLine("### F and Fp, every round: loss and drain");
        sb.AppendLine();
        sb.AppendLine("| Scenario | Setup | run | round | published msg/s | deliveries/s | lost | duplicates | out of order | last send to last delivery (s) | server CPU us/delivery |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var (run, r) in rows.OrderBy(x => x.Result.Scenario, StringComparer.Ordinal).ThenBy(x => x.Result.Setup, StringComparer.Ordinal).ThenBy(x => x.Run).ThenBy(x => x.Result.Round))
        {
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Scenario} | {r.Setup} | {run} | {r.Round} | {V(r, "published_per_s", "N0")} | {V(r, "deliveries_per_s", "N0")} | {V(r, "lost", "N0")} | {V(r, "dups", "N0")} | {V(r, "reordered", "N0")} | {V(r, "drain_s", "F2")} | {V(r, "server_cpu_us_per_delivery", "F2")} |");
        }
        sb.AppendLine();
    }

    private static void AppendProblems(StringBuilder sb, IReadOnlyList<RunResults> runs)
    {
        var problems = runs.SelectMany(r => r.Problems).ToList();
        if (problems.Count > 0)
        {
            sb.AppendLine("### Problems");
            sb.AppendLine();
            foreach (var p in problems)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"- {p}");
            }
            sb.AppendLine();
        }
    }

    /// <summary>
    /// The table of issue 12 and docs/benchmarks.md: L and F for the floor, Redis and SqliteBackplane, with ratios to the
    /// floor (taken within each round, then the median). Also written alone as a fragment to paste into the docs.
    /// </summary>
    public static string LoadShapeTable(IReadOnlyList<RunResults> runs)
    {
        var all = runs.SelectMany(r => r.Results).Where(r => r.Scenario is "L" or "F").ToList();
        var setups = new[] { Setups.NoneName, Setups.RedisName(2), Setups.SqliteName(2) };
        string Value(string scenario, string? param, string setup, string key, string format)
        {
            var v = Stats.Median(all.Where(r => r.Scenario == scenario && (param is null || r.Param == param) && r.Setup == setup && r.Metrics.ContainsKey(key)).Select(r => r.Metrics[key]));
            return double.IsNaN(v) ? "-" : v.ToString(format, CultureInfo.InvariantCulture);
        }
        // Every F round's value in order (run by run), so one bad round shows.
        string Rounds(string setup, string key, string format)
        {
            var values = all.Where(r => r.Scenario == "F" && r.Setup == setup && r.Metrics.ContainsKey(key)).Select(r => r.Metrics[key].ToString(format, CultureInfo.InvariantCulture)).ToList();
            return values.Count == 0 ? "-" : string.Join(", ", values);
        }
        string Pair(string scenario, string? param, string setup, string a, string b, string format) =>
            Value(scenario, param, setup, a, format) is var x && x == "-" ? "-" : $"{x} / {Value(scenario, param, setup, b, format)}";

        var sb = new StringBuilder();
        var roundCount = all.Select(r => (r.Round, r.Scenario, r.Param, r.Setup)).Distinct().GroupBy(k => (k.Scenario, k.Param, k.Setup)).Select(g => g.Count()).DefaultIfEmpty(0).Max();
        sb.AppendLine(CultureInfo.InvariantCulture, $"### Load shapes users create (L, F): medians of {roundCount} interleaved round{(roundCount == 1 ? "" : "s")}");
        sb.AppendLine();
        sb.AppendLine("| | none (floor) | Microsoft Redis backplane | SqliteBackplane | Redis / floor | SqliteBackplane / floor |");
        sb.AppendLine("|---|---|---|---|---|---|");
        var none = setups[0];
        var redis = setups[1];
        var ours = setups[2];
        foreach (var rate in all.Where(r => r.Scenario == "L").Select(r => r.Param).Distinct().OrderBy(p => int.Parse(p, CultureInfo.InvariantCulture)))
        {
            var label = int.Parse(rate, CultureInfo.InvariantCulture) >= 1000 ? $"{int.Parse(rate, CultureInfo.InvariantCulture) / 1000}k" : rate;
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| L {label} msg/s p50 / p99 (ms) | {Pair("L", rate, none, "p50", "p99", "F2")} | {Pair("L", rate, redis, "p50", "p99", "F2")} | {Pair("L", rate, ours, "p50", "p99", "F2")} | {Pair("L", rate, redis, "p50_ratio", "p99_ratio", "F1")} | {Pair("L", rate, ours, "p50_ratio", "p99_ratio", "F1")} |");
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| L {label} msg/s p99.9 / max (ms) | {Pair("L", rate, none, "p999", "max", "F1")} | {Pair("L", rate, redis, "p999", "max", "F1")} | {Pair("L", rate, ours, "p999", "max", "F1")} | | |");
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| L {label} msg/s achieved send rate | {Value("L", rate, none, "achieved_rate", "N0")} | {Value("L", rate, redis, "achieved_rate", "N0")} | {Value("L", rate, ours, "achieved_rate", "N0")} | | |");
        }
        if (all.Any(r => r.Scenario == "F"))
        {
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| F published msg/s | {Value("F", null, none, "published_per_s", "N0")} | {Value("F", null, redis, "published_per_s", "N0")} | {Value("F", null, ours, "published_per_s", "N0")} | {Value("F", null, redis, "published_per_s_ratio", "F2")} | {Value("F", null, ours, "published_per_s_ratio", "F2")} |");
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| F deliveries/s | {Value("F", null, none, "deliveries_per_s", "N0")} | {Value("F", null, redis, "deliveries_per_s", "N0")} | {Value("F", null, ours, "deliveries_per_s", "N0")} | {Value("F", null, redis, "deliveries_per_s_ratio", "F2")} | {Value("F", null, ours, "deliveries_per_s_ratio", "F2")} |");
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| F last send to last delivery (s) | {Value("F", null, none, "drain_s", "F2")} | {Value("F", null, redis, "drain_s", "F2")} | {Value("F", null, ours, "drain_s", "F2")} | | |");
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| F invocations in flight per client | {Value("F", null, none, "window", "N0")} | {Value("F", null, redis, "window", "N0")} | {Value("F", null, ours, "window", "N0")} | | |");
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| F server CPU us per message | {Value("F", null, none, "server_cpu_us_per_msg", "F1")} | {Value("F", null, redis, "server_cpu_us_per_msg", "F1")} | {Value("F", null, ours, "server_cpu_us_per_msg", "F1")} | | |");
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| F lost, each round | {Rounds(none, "lost", "N0")} | {Rounds(redis, "lost", "N0")} | {Rounds(ours, "lost", "N0")} | | |");
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| F last send to last delivery (s), each round | {Rounds(none, "drain_s", "F2")} | {Rounds(redis, "drain_s", "F2")} | {Rounds(ours, "drain_s", "F2")} | | |");
        }
        string Sum(string setup, string key) => all.Where(r => r.Setup == setup && r.Metrics.ContainsKey(key)).Sum(r => r.Metrics[key]).ToString("N0", CultureInfo.InvariantCulture);
        string Faults(string setup) => all.Any(r => r.Setup == setup) ? $"{Sum(setup, "lost")} / {Sum(setup, "dups")} / {Sum(setup, "reordered")}" : "-";
        sb.AppendLine(CultureInfo.InvariantCulture, $"| lost / duplicated / out of order (all rounds, L and F) | {Faults(none)} | {Faults(redis)} | {Faults(ours)} | | |");
        sb.AppendLine();
        return sb.ToString();
    }

    private static string Cell(List<double> values, string format, bool multi)
    {
        values = values.Where(v => !double.IsNaN(v)).ToList();
        if (values.Count == 0)
        {
            return "-";
        }
        var median = Stats.Median(values);
        if (!multi || values.Count == 1)
        {
            return median.ToString(format, CultureInfo.InvariantCulture);
        }
        return $"{median.ToString(format, CultureInfo.InvariantCulture)} ({values.Min().ToString(format, CultureInfo.InvariantCulture)}-{values.Max().ToString(format, CultureInfo.InvariantCulture)})";
    }

    private static double MedianOf(IReadOnlyList<RunResults> runs, string scenario, Func<Result, bool> match, string key) =>
        Stats.Median(runs.SelectMany(run => run.Results.Where(r => r.Scenario == scenario && match(r) && r.Metrics.ContainsKey(key)).Select(r => r.Metrics[key])));

    private static IEnumerable<(string Target, string Measured, string Met)> Targets(IReadOnlyList<RunResults> runs)
    {
        static string F(double v, string format = "F3") => double.IsNaN(v) ? "-" : v.ToString(format, CultureInfo.InvariantCulture);
        static string Verdict(double v, Func<double, bool> ok) => double.IsNaN(v) ? "not measured" : ok(v) ? "met" : "MISSED";

        var ours = Setups.SqliteName(2);
        var p50 = MedianOf(runs, "latency", r => r.Setup == ours && r.Param == "1000", "p50");
        var p50Floor = MedianOf(runs, "latency", r => r.Setup == ours && r.Param == "1000", "floor_p50");
        var p99 = MedianOf(runs, "latency", r => r.Setup == ours && r.Param == "1000", "p99");
        var p99Floor = MedianOf(runs, "latency", r => r.Setup == ours && r.Param == "1000", "floor_p99");
        var added50 = MedianOf(runs, "latency", r => r.Setup == ours && r.Param == "1000", "added_p50");
        var added99 = MedianOf(runs, "latency", r => r.Setup == ours && r.Param == "1000", "added_p99");
        yield return ("Latency p50 <= 0.5 ms at 1k msg/s (2 processes)", $"{F(p50)} ms (floor {F(p50Floor)} ms, added {F(added50)} ms)", Verdict(p50, v => v <= 0.5));
        yield return ("Latency p99 <= 2 ms at 1k msg/s (2 processes)", $"{F(p99)} ms (floor {F(p99Floor)} ms, added {F(added99)} ms)", Verdict(p99, v => v <= 2));
        foreach (var n in new[] { 1, 2, 4 })
        {
            var t = MedianOf(runs, "throughput", r => r.Setup == Setups.SqliteName(n), "msgs_per_s");
            var lost = MedianOf(runs, "throughput", r => r.Setup == Setups.SqliteName(n), "lost");
            if (!double.IsNaN(t))
            {
                yield return ($"Aggregate >= 100k msg/s, none lost ({n} process{(n > 1 ? "es" : "")})", $"{F(t, "N0")} msg/s, lost {F(lost, "N0")}", Verdict(t, v => v >= 100_000 && lost == 0));
            }

            var one = MedianOf(runs, "throughput", r => r.Setup == Setups.SqliteName(n) + Setups.OneReceiverSuffix, "msgs_per_s");
            var oneLost = MedianOf(runs, "throughput", r => r.Setup == Setups.SqliteName(n) + Setups.OneReceiverSuffix, "lost");
            if (!double.IsNaN(one))
            {
                yield return ($"Aggregate >= 100k msg/s, none lost ({n} processes, 1 receiver)", $"{F(one, "N0")} msg/s, lost {F(oneLost, "N0")}", Verdict(one, v => v >= 100_000 && oneLost == 0));
            }
        }
        foreach (var setup in new[] { Setups.SqliteName(1), Setups.SqliteName(2) })
        {
            foreach (var conns in new[] { "100", "1000" })
            {
                var ratio = MedianOf(runs, "fanout", r => r.Setup == setup && r.Param == conns, "ratio");
                if (!double.IsNaN(ratio))
                {
                    yield return ($"Fan-out >= 0.8x DefaultHubLifetimeManager, {conns} connections, {setup}", $"{F(ratio, "F2")}x", Verdict(ratio, v => v >= 0.8));
                }
            }
        }
        foreach (var load in new[] { "flat out", "1000/s each" })
        {
            var max = MedianOf(runs, "stall", r => r.Setup == Setups.SqliteName(4) && r.Param == load, "max");
            var p999 = MedianOf(runs, "stall", r => r.Setup == Setups.SqliteName(4) && r.Param == load, "p999");
            var worstMax = runs.SelectMany(run => run.Results.Where(r => r.Scenario == "stall" && r.Setup == Setups.SqliteName(4) && r.Param == load).Select(r => r.Metrics["max"])).DefaultIfEmpty(double.NaN).Max();
            if (!double.IsNaN(max))
            {
                yield return ($"4 writers ({load}): no commit >= 100 ms", $"max {F(max, "F1")} ms (worst run {F(worstMax, "F1")} ms)", Verdict(worstMax, v => v < 100));
                yield return ($"4 writers ({load}): p99.9 <= 10 ms", $"{F(p999)} ms", Verdict(p999, v => v <= 10));
            }
        }
        var idle = MedianOf(runs, "idle", r => r.Setup == Setups.SqliteName(2), "cpu_pct_max");
        var idleFloor = MedianOf(runs, "idle", r => r.Setup == Setups.NoneName, "cpu_pct_max");
        yield return ("Idle CPU <= 0.5% of a core per process (steady state)", $"{F(idle)}% (no-backplane process: {F(idleFloor)}%)", Verdict(idle, v => v <= 0.5));
    }

    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
}

/// <summary>The names of the setups, shared by the driver and the report.</summary>
public static class Setups
{
    public const string NoneName = "none, 1 proc (floor: DefaultHubLifetimeManager)";

    public static string SqliteName(int processes) => $"sqlite, {processes} proc";

    /// <summary>Marks a throughput row with one receiver (on the last server) instead of one per server.</summary>
    public const string OneReceiverSuffix = ", 1 receiver";

    public static string PollName(int processes) => $"sqlite-poll 100 ms (baseline), {processes} proc";

    /// <summary>SqliteBackplane with EnableResume, every client opted in through the .NET helper (issue 14's cost).</summary>
    public static string ResumeName(int processes) => $"sqlite, {processes} proc, resume (clients opted in)";

    /// <summary>SqliteBackplane with the dashboard mapped and one page's event stream open on every process (issue 19's cost).</summary>
    public static string DashboardName(int processes) => $"sqlite, {processes} proc, dashboard open";

    public static string RedisName(int processes) => $"redis, {processes} proc (Microsoft StackExchangeRedis)";

    public static string Name(string mode, int processes) => mode switch
    {
        "none" => NoneName,
        "sqlite" => SqliteName(processes),
        "redis" => RedisName(processes),
        "sqlite-resume" => ResumeName(processes),
        "sqlite-dashboard" => DashboardName(processes),
        _ => PollName(processes),
    };
}

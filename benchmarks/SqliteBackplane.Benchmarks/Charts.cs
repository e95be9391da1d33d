using System.Globalization;
using ScottPlot;

namespace SqliteBackplane.Benchmarks;

/// <summary>
/// Renders runs' JSON results as PNG charts (ScottPlot): the latency distribution of scenario L per setup, deliveries/s
/// and published msg/s of scenario F per setup, and aggregate throughput by process count. Each figure is the median
/// over every round and run given.
/// </summary>
public static class Charts
{
    private const int Width = 900;
    private const int Height = 520;

    private static readonly (string Setup, string Label, Color Color)[] SetupStyles =
    [
        (Setups.NoneName, "none (floor, 1 process)", Colors.Gray),
        (Setups.RedisName(2), "Microsoft Redis backplane (2 processes)", new Color(0xD6, 0x27, 0x28)),
        (Setups.SqliteName(2), "SqliteBackplane (2 processes)", new Color(0x1F, 0x77, 0xB4)),
    ];

    public static IReadOnlyList<string> Render(IReadOnlyList<RunResults> runs, string outDir)
    {
        Directory.CreateDirectory(outDir);
        var results = runs.SelectMany(r => r.Results).ToList();
        var subtitle = Subtitle(runs);
        var written = new List<string>();
        foreach (var rate in results.Where(r => r.Scenario == "L").Select(r => r.Param).Distinct())
        {
            written.Add(LatencyCurves(results.Where(r => r.Scenario == "L" && r.Param == rate).ToList(), rate, subtitle, outDir));
        }
        if (results.Any(r => r.Scenario == "F"))
        {
            written.Add(FloodBars(results.Where(r => r.Scenario == "F").ToList(), subtitle, outDir));
        }
        if (results.Any(r => r.Scenario == "Fp"))
        {
            written.Add(FloodByProcesses(results.Where(r => r.Scenario == "Fp").ToList(), "published_per_s", "published msg/s", "Fp-published-by-processes.png", subtitle, outDir));
            written.Add(FloodByProcesses(results.Where(r => r.Scenario == "Fp").ToList(), "server_cpu_us_per_delivery", "server CPU us per delivery (all servers)", "Fp-cpu-by-processes.png", subtitle, outDir));
        }
        if (results.Any(r => r.Scenario == "throughput"))
        {
            written.Add(ThroughputByProcesses(results.Where(r => r.Scenario == "throughput").ToList(), subtitle, outDir));
        }
        return written;
    }

    private static string Subtitle(IReadOnlyList<RunResults> runs)
    {
        var label = runs.Select(r => r.Source).FirstOrDefault(s => !string.IsNullOrEmpty(s));
        var started = string.Join(", ", runs.Select(r => r.StartedUtc[..16]));
        var load = string.Join(" / ", runs.Select(r => r.LoadBefore.Split(' ')[0]));
        return $"{(label is null ? "" : label + "\n")}run {started} UTC, 1-min load average {load} before (2 cores)";
    }

    private static double Median(IEnumerable<Result> rows, string key) =>
        Stats.Median(rows.Where(r => r.Metrics.ContainsKey(key)).Select(r => r.Metrics[key]));

    /// <summary>Latency against percentile, both on log scales (x: 1 / (1 - p), so 90, 99, 99.9 are evenly spaced).</summary>
    private static string LatencyCurves(List<Result> rows, string rate, string subtitle, string outDir)
    {
        var plot = new Plot();
        var quantiles = Driver.CurveQuantiles;
        static double X(double q) => q >= 100 ? 4.5 : -Math.Log10(1 - q / 100);
        var lowest = double.MaxValue;
        var highest = double.MinValue;
        foreach (var (setup, label, color) in SetupStyles)
        {
            var mine = rows.Where(r => r.Setup == setup).ToList();
            if (mine.Count == 0)
            {
                continue;
            }
            var points = quantiles.Select(q => (X: X(q), Ms: Median(mine, Driver.QuantileKey(q)))).Where(p => p.Ms > 0).ToArray();
            var scatter = plot.Add.Scatter(points.Select(p => p.X).ToArray(), points.Select(p => Math.Log10(p.Ms)).ToArray());
            scatter.LegendText = $"{label}: p50 {Ms(Median(mine, "p50"))}, p99 {Ms(Median(mine, "p99"))}";
            scatter.Color = color;
            scatter.LineWidth = 2.5f;
            scatter.MarkerSize = 7;
            lowest = Math.Min(lowest, points.Min(p => p.Ms));
            highest = Math.Max(highest, points.Max(p => p.Ms));
        }

        var xTicks = new ScottPlot.TickGenerators.NumericManual();
        foreach (var (q, text) in new[] { (10.0, "p10"), (50.0, "p50"), (90.0, "p90"), (99.0, "p99"), (99.9, "p99.9"), (99.99, "p99.99"), (100.0, "max") })
        {
            xTicks.AddMajor(X(q), text);
        }
        plot.Axes.Bottom.TickGenerator = xTicks;
        plot.Axes.Left.TickGenerator = LogTicks(lowest, highest, "ms");
        plot.Axes.SetLimitsX(0, 4.7);
        plot.Axes.SetLimitsY(Math.Floor(Math.Log10(lowest)), Math.Ceiling(Math.Log10(highest)));
        var perSecond = int.Parse(rate, CultureInfo.InvariantCulture);
        plot.Title($"L: one busy client at {perSecond:N0} msg/s, cross-process latency distribution\n{subtitle}", size: 13);
        plot.XLabel("percentile (log scale)");
        plot.YLabel("receive time - send time (ms, log scale)");
        plot.ShowLegend(Alignment.LowerRight);
        var path = Path.Combine(outDir, $"L-{perSecond / 1000}k-latency.png");
        plot.SavePng(path, Width, Height);
        return path;
    }

    private static ScottPlot.TickGenerators.NumericManual LogTicks(double lowest, double highest, string unit)
    {
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (var exponent = (int)Math.Floor(Math.Log10(lowest)); exponent <= (int)Math.Ceiling(Math.Log10(highest)); exponent++)
        {
            var value = Math.Pow(10, exponent);
            ticks.AddMajor(exponent, $"{value.ToString("G", CultureInfo.InvariantCulture)} {unit}");
            foreach (var m in new[] { 2, 3, 5 })
            {
                ticks.AddMinor(exponent + Math.Log10(m));
            }
        }
        return ticks;
    }

    /// <summary>Scenario F: published msg/s and deliveries/s per setup, side by side.</summary>
    private static string FloodBars(List<Result> rows, string subtitle, string outDir)
    {
        var plot = new Plot();
        var bars = new List<Bar>();
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        var position = 0;
        foreach (var (setup, label, color) in SetupStyles)
        {
            var mine = rows.Where(r => r.Setup == setup).ToList();
            if (mine.Count == 0)
            {
                continue;
            }
            var published = Median(mine, "published_per_s");
            var deliveries = Median(mine, "deliveries_per_s");
            var drain = Median(mine, "drain_s");
            bars.Add(new Bar { Position = position * 3, Value = published, FillColor = color.WithAlpha(0.55), Label = Short(published) });
            bars.Add(new Bar { Position = position * 3 + 1, Value = deliveries, FillColor = color, Label = Short(deliveries) });
            ticks.AddMajor(position * 3 + 0.5, $"{label}\ndrain {drain:F1} s after the last send");
            position++;
        }
        var barPlot = plot.Add.Bars(bars);
        barPlot.ValueLabelStyle.FontSize = 13;
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.Margins(bottom: 0, top: 0.15);
        plot.Title($"F: 4 clients flood (InvokeAsync, {Median(rows, "window"):F0} in flight each, 5 s): published msg/s (light) and deliveries/s (dark)\n{subtitle}", size: 13);
        plot.YLabel("per second");
        var path = Path.Combine(outDir, "F-throughput.png");
        plot.SavePng(path, Width, Height);
        return path;
    }

    /// <summary>The throughput scenario: published msg/s by number of server processes on one file (and the floor, Redis).</summary>
    private static string ThroughputByProcesses(List<Result> rows, string subtitle, string outDir)
    {
        var plot = new Plot();
        var highest = 0.0;
        void Line(Func<int, string> name, string label, Color color, int[] counts)
        {
            var points = counts.Select(n => (N: n, V: Median(rows.Where(r => r.Setup == name(n)), "msgs_per_s"))).Where(p => !double.IsNaN(p.V)).ToArray();
            if (points.Length == 0)
            {
                return;
            }
            var scatter = plot.Add.Scatter(points.Select(p => (double)p.N).ToArray(), points.Select(p => p.V).ToArray());
            scatter.LegendText = label + ": " + string.Join(", ", points.Select(p => $"{p.N} proc {Short(p.V)}"));
            scatter.Color = color;
            scatter.LineWidth = 2.5f;
            scatter.MarkerSize = 9;
            highest = Math.Max(highest, points.Max(p => p.V));
        }
        Line(_ => Setups.NoneName, "none (floor)", Colors.Gray, [1]);
        Line(Setups.RedisName, "Microsoft Redis backplane", new Color(0xD6, 0x27, 0x28), [2]);
        Line(Setups.SqliteName, "SqliteBackplane", new Color(0x1F, 0x77, 0xB4), [1, 2, 4]);
        Line(Setups.PollName, "SqliteBackplane, 100 ms poll (baseline)", new Color(0x2C, 0xA0, 0x2C), [1, 2, 4]);
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        foreach (var n in new[] { 1, 2, 4 })
        {
            ticks.AddMajor(n, $"{n} process{(n > 1 ? "es" : "")}");
        }
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.SetLimits(0.5, 4.5, 0, Math.Max(1, highest) * 1.3);
        plot.Title($"Aggregate publish throughput (server-side publishers, one receiver per server)\n{subtitle}", size: 13);
        plot.YLabel("published msg/s, end to end");
        plot.ShowLegend(Alignment.UpperRight);
        var path = Path.Combine(outDir, "throughput-by-processes.png");
        plot.SavePng(path, Width, Height);
        return path;
    }

    /// <summary>Scenario Fp: one F metric by number of server processes (the floor is one process; Redis and ours 1-8).</summary>
    private static string FloodByProcesses(List<Result> rows, string key, string label, string file, string subtitle, string outDir)
    {
        var plot = new Plot();
        var highest = 0.0;
        int[] counts = [1, 2, 4, 8];
        void Line(Func<int, string> name, string legend, Color color, int[] processes)
        {
            var points = processes.Select(n => (N: n, V: Median(rows.Where(r => r.Setup == name(n)), key))).Where(p => !double.IsNaN(p.V)).ToArray();
            if (points.Length == 0)
            {
                return;
            }
            var scatter = plot.Add.Scatter(points.Select(p => (double)p.N).ToArray(), points.Select(p => p.V).ToArray());
            scatter.LegendText = legend + ": " + string.Join(", ", points.Select(p => $"{p.N} proc {Short(p.V)}"));
            scatter.Color = color;
            scatter.LineWidth = 2.5f;
            scatter.MarkerSize = 9;
            highest = Math.Max(highest, points.Max(p => p.V));
        }
        Line(_ => Setups.NoneName, "none (floor)", Colors.Gray, [1]);
        Line(Setups.RedisName, "Microsoft Redis backplane", new Color(0xD6, 0x27, 0x28), counts);
        Line(Setups.SqliteName, "SqliteBackplane", new Color(0x1F, 0x77, 0xB4), counts);
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        foreach (var n in counts)
        {
            ticks.AddMajor(n, $"{n} process{(n > 1 ? "es" : "")}");
        }
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.SetLimits(0.5, 8.5, 0, Math.Max(1, highest) * 1.3);
        plot.Title($"Fp: 4 clients flood, spread over N processes: {label}\n{subtitle}", size: 13);
        plot.YLabel(label);
        plot.ShowLegend(Alignment.UpperRight);
        var path = Path.Combine(outDir, file);
        plot.SavePng(path, Width, Height);
        return path;
    }

    private static string Ms(double v) => v >= 100 ? $"{v:F0} ms" : v >= 10 ? $"{v:F1} ms" : $"{v:F2} ms";

    private static string Short(double v) => v >= 1_000_000 ? $"{v / 1_000_000:F2}M" : v >= 10_000 ? $"{v / 1000:F0}k" : v >= 1000 ? $"{v / 1000:F1}k" : v.ToString("F0", CultureInfo.InvariantCulture);
}

using System.Diagnostics;
using System.Text.Json;
using SqliteBackplane.Benchmarks;

// One program, two roles. "server" is a benchmark server process; everything else drives servers it starts itself.
//   L F [--rounds 3]     the load shapes of issue 12 (one busy client; clients flood), none / redis / sqlite interleaved
//   Fd [--rounds 3]      F with and without a dashboard page open on each process (issue 19's cost)
//   Fo [--rounds 3]      fan-out: a 20 msg/s server-side broadcast to 500, 2,000 and 5,000 raw WebSocket connections
//   all                  L, F, Fp and Fd, then the full suite of issue 3
//   smoke                a tiny run of every scenario: exits non-zero if a server crashed or a message was lost
//   latency|throughput|fanout|stall|idle   one scenario of the full suite (several may be named)
//   aggregate <run.json>...                 medians and spreads of several runs as markdown
//   charts <run.json>... [--out dir]        PNG charts of runs (default docs/benchmarks)
// Options: --out <dir> (default benchmarks/results in the repository), --rounds <n> (L and F; default 3, smoke 1),
// --label <text> (what code was measured, printed in the report).
if (args.Length > 0 && args[0] == "server")
{
    return await BenchServer.RunAsync(args[1..]);
}

var commands = args.TakeWhile(a => !a.StartsWith("--", StringComparison.Ordinal)).ToArray();
var command = commands.Length > 0 ? commands[0] : "all";
var outDir = OptionValue(args, "--out") ?? DefaultOutputDirectory("benchmarks", "results");
Directory.CreateDirectory(outDir);

if (command is "aggregate" or "charts")
{
    var files = commands[1..].Where(a => a.EndsWith(".json", StringComparison.Ordinal)).ToList();
    var runs = files.Select(f => JsonSerializer.Deserialize<RunResults>(File.ReadAllText(f))!).ToList();
    if (runs.Count == 0)
    {
        Console.Error.WriteLine($"{command} needs one or more run .json files.");
        return 2;
    }
    if (command == "charts")
    {
        var chartDir = OptionValue(args, "--out") ?? DefaultOutputDirectory("docs", "benchmarks");
        foreach (var png in Charts.Render(runs, chartDir))
        {
            Console.Error.WriteLine($"Wrote {png}");
        }
        return 0;
    }
    var summary = Report.Render(runs);
    Console.Out.Write(summary);
    var path = Path.Combine(outDir, "summary.md");
    await File.WriteAllTextAsync(path, summary);
    Console.Error.WriteLine($"Wrote {path}");
    return 0;
}

Plan plan;
string[] scenarios;
if (command == "all")
{
    (plan, scenarios) = (Plan.Full, []);
}
else if (command == "smoke")
{
    (plan, scenarios) = (Plan.SmokePlan, []);
}
else if (commands.All(c => Driver.ScenarioNames.Contains(c)))
{
    (plan, scenarios) = (OptionValue(args, "--plan") == "smoke" ? Plan.SmokePlan : Plan.Full, commands);
}
else
{
    Console.Error.WriteLine($"Unknown command '{string.Join(' ', commands)}'. Use all, smoke, one or more of {string.Join(", ", Driver.ScenarioNames)}, aggregate, charts or server.");
    return 2;
}
var rounds = int.TryParse(OptionValue(args, "--rounds"), out var n) && n > 0 ? n : plan.Smoke ? 1 : 3;

var started = DateTime.UtcNow;
var loadBefore = LoadAverage();
var stopwatch = Stopwatch.StartNew();
RunResults run;
await using (var driver = new Driver(plan))
{
    await driver.RunAsync(scenarios, rounds);
    run = new RunResults($"dotnet run -c Release --project benchmarks/SqliteBackplane.Benchmarks -- {string.Join(' ', args)}",
        started.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture), Machine(), loadBefore, LoadAverage(),
        driver.Results, driver.Problems, driver.Skipped, OptionValue(args, "--label") ?? Environment.GetEnvironmentVariable("BENCH_SOURCE_LABEL"));
}

var markdown = Report.Render([run]);
Console.Out.Write(markdown);
var stem = Path.Combine(outDir, $"{started:yyyyMMdd-HHmmss}-{string.Join('-', commands.DefaultIfEmpty("all"))}");
await File.WriteAllTextAsync(stem + ".md", markdown);
await File.WriteAllTextAsync(stem + ".json", JsonSerializer.Serialize(run, Report.Json));
var written = $"{stem}.md and {stem}.json";
if (!plan.Smoke && run.Results.Any(r => r.Scenario is "L" or "F"))
{
    // The table of docs/benchmarks.md alone, to paste; charts: the "charts" command renders them from the .json.
    await File.WriteAllTextAsync(stem + "-loadshapes.md", Report.LoadShapeTable([run]));
    written += $", {stem}-loadshapes.md";
}
Console.Error.WriteLine($"Wrote {written} in {stopwatch.Elapsed.TotalSeconds:F0} s");

// Timing is never asserted; a crash or a lost message is.
var lostAny = run.Results.Any(r => r.Metrics.TryGetValue("lost", out var lost) && lost > 0);
if (run.Problems.Count > 0 || lostAny)
{
    Console.Error.WriteLine("FAILED: " + string.Join("; ", run.Problems.DefaultIfEmpty("messages were lost")));
    return 1;
}
return 0;

static string? OptionValue(string[] args, string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

static string DefaultOutputDirectory(string top, string sub)
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "SqliteBackplane.sln")))
        {
            return Path.Combine(dir.FullName, top, sub);
        }
    }
    return Path.Combine(Directory.GetCurrentDirectory(), "benchmark-results");
}

static string LoadAverage()
{
    try
    {
        return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
    }
    catch (IOException)
    {
        return "?";
    }
}

static string Machine()
{
    var cpu = "?";
    try
    {
        cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
    }
    catch (IOException)
    {
    }
    var memGiB = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024.0 * 1024 * 1024);
    return $"{Environment.ProcessorCount} cores ({cpu}), {memGiB:F0} GiB, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}";
}

using System.Diagnostics;
using System.Text.Json;
using SqliteBackplane.Benchmarks;

// One program, two roles. "server" is a benchmark server process; everything else drives servers it starts itself.
//   all                 the full suite (about 6-8 minutes)
//   smoke               a short run of every scenario: exits non-zero if a server crashed or a message was lost
//   latency|throughput|fanout|stall|idle   one scenario of the full suite
//   aggregate <run.json>...                 medians and spreads of several runs as markdown
// Options: --out <dir> (default benchmarks/results in the repository).
if (args.Length > 0 && args[0] == "server")
{
    return await BenchServer.RunAsync(args[1..]);
}

var command = args.Length > 0 ? args[0] : "all";
var outDir = OptionValue(args, "--out") ?? DefaultOutputDirectory();
Directory.CreateDirectory(outDir);

if (command == "aggregate")
{
    var files = args[1..].Where(a => a.EndsWith(".json", StringComparison.Ordinal)).ToList();
    var runs = files.Select(f => JsonSerializer.Deserialize<RunResults>(File.ReadAllText(f))!).ToList();
    if (runs.Count == 0)
    {
        Console.Error.WriteLine("aggregate needs one or more run .json files.");
        return 2;
    }
    var summary = Report.Render(runs);
    Console.Out.Write(summary);
    var path = Path.Combine(outDir, "summary.md");
    await File.WriteAllTextAsync(path, summary);
    Console.Error.WriteLine($"Wrote {path}");
    return 0;
}

string[] scenarioNames = ["latency", "throughput", "fanout", "stall", "idle"];
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
else if (scenarioNames.Contains(command))
{
    (plan, scenarios) = (OptionValue(args, "--plan") == "smoke" ? Plan.SmokePlan : Plan.Full, [command]);
}
else
{
    Console.Error.WriteLine($"Unknown command '{command}'. Use all, smoke, {string.Join(", ", scenarioNames)}, aggregate or server.");
    return 2;
}

var started = DateTime.UtcNow;
var loadBefore = LoadAverage();
var stopwatch = Stopwatch.StartNew();
RunResults run;
await using (var driver = new Driver(plan))
{
    await driver.RunAsync(scenarios);
    run = new RunResults($"dotnet run -c Release --project benchmarks/SqliteBackplane.Benchmarks -- {string.Join(' ', args)}",
        started.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture), Machine(), loadBefore, LoadAverage(),
        driver.Results, driver.Problems);
}

var markdown = Report.Render([run]);
Console.Out.Write(markdown);
var stem = Path.Combine(outDir, $"{started:yyyyMMdd-HHmmss}-{command}");
await File.WriteAllTextAsync(stem + ".md", markdown);
await File.WriteAllTextAsync(stem + ".json", JsonSerializer.Serialize(run, Report.Json));
Console.Error.WriteLine($"Wrote {stem}.md and {stem}.json in {stopwatch.Elapsed.TotalSeconds:F0} s");

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

static string DefaultOutputDirectory()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "SqliteBackplane.sln")))
        {
            return Path.Combine(dir.FullName, "benchmarks", "results");
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

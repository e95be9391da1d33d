using System.Diagnostics;
using System.Globalization;

namespace SqliteBackplane.Benchmarks;

/// <summary>Scenario "idle": CPU of idle server processes.</summary>
public sealed partial class Driver
{
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
}

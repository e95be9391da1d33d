using System.Diagnostics;

namespace SqliteBackplane.Benchmarks;

/// <summary>Scenario "stall": how long sends take while every process writes (commit stalls).</summary>
public sealed partial class Driver
{
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
}

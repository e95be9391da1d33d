using System.Diagnostics;
using System.Globalization;

namespace SqliteBackplane.Benchmarks;

/// <summary>Scenario "throughput": every server floods from the server side; receivers count every message.</summary>
public sealed partial class Driver
{
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
}

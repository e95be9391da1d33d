using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.SignalR.Client;

namespace SqliteBackplane.Benchmarks;

/// <summary>Scenario "latency": broadcast latency at fixed rates, several senders on one server, a receiver on another.</summary>
public sealed partial class Driver
{
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
}

using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.SignalR.Client;

namespace SqliteBackplane.Benchmarks;

/// <summary>Scenario L, one busy client (see LoadShapes.cs).</summary>
public sealed partial class Driver
{

    private async Task<Result> OneBusyClientAsync(string mode, int processes, int rate, int round)
    {
        await using var servers = await ServerSet.StartAsync(mode, processes, NewDb(), this);
        var warmup = (int)(rate * _plan.LoadWarmupSeconds);
        var measured = (int)(rate * _plan.LoadSeconds);
        var total = warmup + measured;
        var latencies = new long[measured];
        var receiverSeen = new SequenceTracker();
        var senderSeen = new SequenceTracker();

        // The sender is on the first server, the receiver on the last (the other process whenever there are two).
        var sender = CreateConnection(servers[0].LoadHubUri, resume: mode == "sqlite-resume");
        var receiver = CreateConnection(servers[^1].LoadHubUri, resume: mode == "sqlite-resume");
        try
        {
            receiver.On<LoadMessage>(LoadHub.Method, message =>
            {
                var now = Stopwatch.GetTimestamp();
                if (message.Sender == 0 && receiverSeen.Record(message.Seq, now) && message.Seq >= warmup && message.Seq < total)
                {
                    latencies[message.Seq - warmup] = now - message.SentAt;
                }
            });
            // The sender gets its own broadcasts too (Clients.All), as a user's client would; it only counts them.
            sender.On<LoadMessage>(LoadHub.Method, message => senderSeen.Record(message.Seq, Stopwatch.GetTimestamp()));
            await Task.WhenAll(sender.StartAsync(), receiver.StartAsync());

            // Open loop: message i is due at start + i / rate whatever happened to earlier ones; a send that returns
            // late (the connection's buffers full because the server is behind) shows as lag and a lower achieved rate.
            var start = Stopwatch.GetTimestamp();
            var maxLag = 0L;
            for (var i = 0; i < total; i++)
            {
                var due = start + (long)i * Stopwatch.Frequency / rate;
                var now = Stopwatch.GetTimestamp();
                if (due > now)
                {
                    await Task.Delay(TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond, (due - now) * TimeSpan.TicksPerSecond / Stopwatch.Frequency)));
                    now = Stopwatch.GetTimestamp();
                }
                maxLag = Math.Max(maxLag, now - due);
                await sender.SendAsync(nameof(LoadHub.Broadcast), new LoadMessage(0, i, Stopwatch.GetTimestamp()));
            }
            var lastSend = Stopwatch.GetTimestamp();
            var sendSeconds = (lastSend - start) / (double)Stopwatch.Frequency;
            await WaitUntilAsync(() => receiverSeen.Distinct >= total && senderSeen.Distinct >= total, lastSend);
            servers.CheckAlive();

            var samples = latencies.Where(t => t > 0).Select(t => t * 1000.0 / Stopwatch.Frequency).Order().ToArray();
            var lost = total - receiverSeen.Distinct + (total - senderSeen.Distinct);
            if (lost > 0)
            {
                Problems.Add($"L {rate}/s {Setups.Name(mode, processes)} round {round}: {lost} deliveries not received {LoadDrainTimeout.TotalSeconds:F0} s after the last send");
            }
            var metrics = new Dictionary<string, double>
            {
                ["rate"] = rate,
                ["achieved_rate"] = total / (sendSeconds + 1.0 / rate),
                ["max_send_lag_ms"] = maxLag * 1000.0 / Stopwatch.Frequency,
                ["p50"] = Stats.Percentile(samples, 50),
                ["p90"] = Stats.Percentile(samples, 90),
                ["p99"] = Stats.Percentile(samples, 99),
                ["p999"] = Stats.Percentile(samples, 99.9),
                ["max"] = samples.Length > 0 ? samples[^1] : double.NaN,
                ["received"] = samples.Length,
                ["lost"] = lost,
                ["dups"] = receiverSeen.Duplicates + senderSeen.Duplicates,
                ["reordered"] = receiverSeen.Reordered + senderSeen.Reordered,
            };
            AddCurve(metrics, samples);
            return new Result("L", Setups.Name(mode, processes), rate.ToString(CultureInfo.InvariantCulture), metrics, round);
        }
        finally
        {
            await DisposeAllAsync([sender, receiver]);
        }
    }

    private static void AddCurve(Dictionary<string, double> metrics, double[] sorted)
    {
        foreach (var q in CurveQuantiles)
        {
            metrics[QuantileKey(q)] = q >= 100 ? (sorted.Length > 0 ? sorted[^1] : double.NaN) : Stats.Percentile(sorted, q);
        }
    }

    /// <summary>Polls (this is the driver, not a test) until the condition holds or the drain timeout after <paramref name="lastSend"/>.</summary>
    private static async Task WaitUntilAsync(Func<bool> condition, long lastSend)
    {
        var deadline = lastSend + (long)(LoadDrainTimeout.TotalSeconds * Stopwatch.Frequency);
        while (!condition() && Stopwatch.GetTimestamp() < deadline)
        {
            await Task.Delay(10);
        }
    }
}

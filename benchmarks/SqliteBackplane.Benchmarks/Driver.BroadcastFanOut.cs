using System.Diagnostics;
using System.Globalization;

namespace SqliteBackplane.Benchmarks;

/// <summary>
/// Scenario Fo (issue 20's fan-out): N connections spread round robin over the processes, a server-side broadcast
/// (<c>IHubContext.Clients.All</c>) from the first process at 20 msg/s for 10 s. Reported: per-delivery latency
/// p50/p99, fan-out completion (a message's last delivery minus its send) p50/p99/max, server memory per connection
/// right after connecting, loss. Receivers are <see cref="RawBroadcastReceiver"/>s in the driver process.
/// </summary>
public sealed partial class Driver
{
    private async Task BroadcastFanOutAsync(int rounds)
    {
        for (var round = 1; round <= rounds; round++)
        {
            foreach (var connections in _plan.BroadcastConnections)
            {
                Log($"== fan-out of a broadcast to {connections} connections, round {round} of {rounds}");
                var results = new List<Result>();
                foreach (var spec in Selected(_plan.BroadcastSetups))
                {
                    var (mode, processes) = ParseSetup(spec);
                    await GuardedMeasurement($"Fo {spec} {connections}", async () => results.Add(await BroadcastFanOutOnceAsync(mode, processes, connections, round)));
                }
                AddRatios(results, "p50", "p99", "completion_p99", "kb_per_connection");
                ReportAll(results);
            }
        }
    }

    private async Task<Result> BroadcastFanOutOnceAsync(string mode, int processes, int connections, int round)
    {
        await using var servers = await ServerSet.StartAsync(mode, processes, NewDb(), this);
        var messages = (int)(_plan.BroadcastRate * _plan.BroadcastSeconds);
        var warmup = new BroadcastTally(messages);
        var tally = new BroadcastTally(messages);
        var current = warmup;
        var receivers = new List<RawBroadcastReceiver>(connections);
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(2) };
        try
        {
            var rssBefore = 0L;
            foreach (var server in servers)
            {
                rssBefore += await SettledRssAsync(server);
            }
            using (var gate = new SemaphoreSlim(32))
            {
                var connecting = Enumerable.Range(0, connections).Select(async i =>
                {
                    await gate.WaitAsync();
                    try
                    {
                        return await RawBroadcastReceiver.ConnectAsync(http, servers[i % servers.Count].HubUri, () => current);
                    }
                    finally
                    {
                        gate.Release();
                    }
                });
                receivers.AddRange(await Task.WhenAll(connecting));
            }
            var rssAfter = 0L;
            foreach (var server in servers)
            {
                rssAfter += await SettledRssAsync(server);
            }

            // Warm-up: one second of the broadcast, until every connection has received it (JIT, first writes).
            await BroadcastAsync(servers[0], _plan.BroadcastRate, _plan.BroadcastRate);
            await WaitUntilAsync(() => warmup.Delivered >= (long)connections * _plan.BroadcastRate, Stopwatch.GetTimestamp());

            current = tally;
            var cpuBefore = servers.Sum(s => s.CpuTicks());
            await BroadcastAsync(servers[0], messages, _plan.BroadcastRate);
            var expected = (long)connections * messages;
            await WaitUntilAsync(() => tally.Delivered >= expected, Stopwatch.GetTimestamp());
            var cpuUs = (servers.Sum(s => s.CpuTicks()) - cpuBefore) * 1e6 / ClockTicksPerSecond();
            servers.CheckAlive();

            var lost = Math.Max(0, expected - tally.Delivered + tally.Duplicates(connections));
            if (lost > 0)
            {
                Problems.Add($"Fo {Setups.Name(mode, processes)} {connections} connections round {round}: {lost} deliveries not received");
            }
            var completion = tally.CompletionMs(connections);
            var metrics = new Dictionary<string, double>
            {
                ["connections"] = connections,
                ["processes"] = processes,
                ["messages"] = messages,
                ["p50"] = tally.Percentile(50),
                ["p99"] = tally.Percentile(99),
                ["max"] = tally.Percentile(100),
                ["completion_p50"] = Stats.Percentile(completion, 50),
                ["completion_p99"] = Stats.Percentile(completion, 99),
                ["completion_max"] = completion.Length > 0 ? completion[^1] : double.NaN,
                ["kb_per_connection"] = (rssAfter - rssBefore) / (double)connections / 1024,
                ["server_cpu_us_per_delivery"] = tally.Delivered > 0 ? cpuUs / tally.Delivered : double.NaN,
                ["lost"] = lost,
                ["dups"] = tally.Duplicates(connections) + tally.Unexpected,
            };
            Log($"Fo {Setups.Name(mode, processes)} {connections} connections round {round}: p99 {metrics["p99"]:F1} ms, completion p99 {metrics["completion_p99"]:F1} ms, {metrics["kb_per_connection"]:F1} KB per connection, lost {lost:N0}");
            return new Result("Fo", Setups.Name(mode, processes), connections.ToString(CultureInfo.InvariantCulture), metrics, round);
        }
        finally
        {
            var closing = Task.WhenAll(receivers.Select(r => r.DisposeAsync().AsTask()));
            await Task.WhenAny(closing, Task.Delay(TimeSpan.FromSeconds(30)));
        }
    }

    private async Task BroadcastAsync(ServerProcess publisher, int count, int rate) =>
        await _http.GetStringAsync(new Uri(publisher.BaseUri, FormattableString.Invariant($"/broadcast?count={count}&rate={rate}")));
}

using System.Diagnostics;
using System.Globalization;

namespace SqliteBackplane.Benchmarks;

/// <summary>Scenario "fanout": one server floods to many connections; memory per connection.</summary>
public sealed partial class Driver
{
    private async Task FanOutAsync()
    {
        foreach (var (connections, messages) in _plan.FanOut)
        {
            Result? floor = null;
            foreach (var spec in Selected(_plan.FanOutSetups))
            {
                var (mode, processes) = ParseSetup(spec);
                var result = await FanOutOnceAsync(mode, processes, connections, messages);
                if (mode == "none")
                {
                    floor = result;
                }
                else if (floor is not null)
                {
                    result.Metrics["ratio"] = result.Metrics["deliveries_per_s"] / floor.Metrics["deliveries_per_s"];
                    result.Metrics["rss_ratio"] = result.Metrics["rss_per_1000_mb"] / floor.Metrics["rss_per_1000_mb"];
                }
                Results.Add(result);
                Log(Describe(result));
            }
        }
    }

    private async Task<Result> FanOutOnceAsync(string mode, int processes, int connections, int messages)
    {
        await using var servers = await ServerSet.StartAsync(mode, processes, NewDb(), this);
        var receivers = new List<CountingReceiver>();
        try
        {
            var rssBefore = 0L;
            foreach (var server in servers)
            {
                rssBefore += await SettledRssAsync(server);
            }
            for (var i = 0; i < connections; i++)
            {
                receivers.Add(new CountingReceiver(CreateConnection(servers[i % servers.Count].HubUri), senders: 1, perSender: messages));
            }
            using (var gate = new SemaphoreSlim(16))
            {
                await Task.WhenAll(receivers.Select(async r =>
                {
                    await gate.WaitAsync();
                    try
                    {
                        await r.Connection.StartAsync();
                    }
                    finally
                    {
                        gate.Release();
                    }
                }));
            }
            var rssAfter = 0L;
            foreach (var server in servers)
            {
                rssAfter += await SettledRssAsync(server);
            }
            await WarmUpFanOutAsync(servers[0], receivers);

            var start = Stopwatch.GetTimestamp();
            await FloodAsync(servers[0], messages, concurrency: 8, sender: 0);
            var end = await WaitForAllAsync(receivers);
            var seconds = (end - start) / (double)Stopwatch.Frequency;
            var delivered = receivers.Sum(r => (long)r.Distinct);
            var lost = (long)connections * messages - delivered;
            servers.CheckAlive();
            if (lost > 0)
            {
                Problems.Add($"fanout {Setups.Name(mode, processes)} {connections} connections: {lost} deliveries lost");
            }
            return new Result("fanout", Setups.Name(mode, processes), connections.ToString(CultureInfo.InvariantCulture), new()
            {
                ["connections"] = connections,
                ["messages"] = messages,
                ["deliveries_per_s"] = delivered / seconds,
                ["lost"] = lost,
                ["rss_per_1000_mb"] = (rssAfter - rssBefore) / (double)connections * 1000 / (1024 * 1024),
            });
        }
        finally
        {
            await DisposeAllAsync(receivers.Select(r => r.Connection));
        }
    }

    /// <summary>Waits (bounded) until every receiver has every message; returns when the last one arrived, or now on timeout.</summary>
    private static async Task<long> WaitForAllAsync(IReadOnlyList<CountingReceiver> receivers)
    {
        var all = Task.WhenAll(receivers.Select(r => r.Done));
        if (await Task.WhenAny(all, Task.Delay(DrainTimeout)) == all)
        {
            return receivers.Max(r => r.LastReceived);
        }
        return Stopwatch.GetTimestamp();
    }

    private async Task WarmUpFanOutAsync(ServerProcess publisher, IReadOnlyList<CountingReceiver> receivers)
    {
        var count = _plan.Smoke ? 20 : 100;
        await FloodAsync(publisher, count, concurrency: 8, sender: CountingReceiver.WarmupSender);
        var deadline = Stopwatch.GetTimestamp() + 20 * Stopwatch.Frequency;
        while (Stopwatch.GetTimestamp() < deadline && receivers.Any(r => r.Ignored < count))
        {
            await Task.Delay(10);
        }
    }

    private async Task<long> SettledRssAsync(ServerProcess server)
    {
        await Task.Delay(500);
        await _http.GetStringAsync(new Uri(server.BaseUri, "/gc"));
        await Task.Delay(200);
        return server.RssBytes();
    }
}

using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.SignalR.Client;

namespace SqliteBackplane.Benchmarks;

/// <summary>Scenario F, clients flood (see LoadShapes.cs).</summary>
public sealed partial class Driver
{
    /// <summary>One round of F (or of Fp, <paramref name="scenario"/>): loss and drain are recorded per round.</summary>
    private async Task<Result> ClientsFloodAsync(string mode, int processes, int round, string scenario = "F")
    {
        await using var servers = await ServerSet.StartAsync(mode, processes, NewDb(), this);
        var clients = Enumerable.Range(0, FloodClients)
            .Select(i => new FloodClient(i, CreateConnection(servers[i % servers.Count].LoadHubUri, resume: mode == "sqlite-resume"), FloodClients))
            .ToList();
        try
        {
            await Task.WhenAll(clients.Select(c => c.Connection.StartAsync()));

            // Warm-up (JIT, connections): a few invocations per client, counted apart; wait until every client has them.
            var warmup = int.TryParse(Environment.GetEnvironmentVariable("BENCH_F_WARMUP"), out var n) && n > 0 ? n : _plan.FloodWarmupMessages;
            await Task.WhenAll(clients.Select(c => c.WarmUpAsync(warmup)));
            await WaitUntilAsync(() => clients.All(c => c.WarmupReceived >= warmup * FloodClients), Stopwatch.GetTimestamp());

            var cpuBefore = servers.Sum(s => s.CpuTicks());
            using var profiler = StartProfiler(servers, mode, round);
            var start = Stopwatch.GetTimestamp();
            var deadline = start + (long)(_plan.FloodSeconds * Stopwatch.Frequency);
            await Task.WhenAll(clients.Select(c => c.FloodAsync(deadline, FloodWindow)));
            if (profiler is not null)
            {
                await profiler.WaitForExitAsync();
            }
            var lastSend = clients.Max(c => c.LastSendCompleted);
            var published = clients.Sum(c => c.Sent);
            var expected = published * FloodClients;
            await WaitUntilAsync(() => clients.Sum(c => c.Distinct) >= expected, lastSend);
            var cpuUs = (servers.Sum(s => s.CpuTicks()) - cpuBefore) * 1e6 / ClockTicksPerSecond();
            servers.CheckAlive();

            var lastDelivery = clients.Max(c => c.LastReceived);
            var delivered = clients.Sum(c => c.Distinct);
            var lost = expected - delivered;
            if (lost > 0)
            {
                Problems.Add($"{scenario} {Setups.Name(mode, processes)} round {round}: {lost} deliveries not received {LoadDrainTimeout.TotalSeconds:F0} s after the last send");
            }
            var samples = clients.SelectMany(c => c.Latencies).Order().ToArray();
            var metrics = new Dictionary<string, double>
            {
                ["clients"] = FloodClients,
                ["processes"] = processes,
                ["window"] = FloodWindow,
                ["published"] = published,
                ["published_per_s"] = published / ((lastSend - start) / (double)Stopwatch.Frequency),
                ["deliveries_per_s"] = delivered / ((Math.Max(lastDelivery, lastSend) - start) / (double)Stopwatch.Frequency),
                ["drain_s"] = Math.Max(0, lastDelivery - lastSend) / (double)Stopwatch.Frequency,
                ["lost"] = lost,
                ["dups"] = clients.Sum(c => c.Duplicates),
                ["reordered"] = clients.Sum(c => c.Reordered),
                ["server_cpu_us_per_msg"] = published > 0 ? cpuUs / published : double.NaN,
                ["server_cpu_us_per_delivery"] = delivered > 0 ? cpuUs / delivered : double.NaN,
                ["p50"] = Stats.Percentile(samples, 50),
                ["p99"] = Stats.Percentile(samples, 99),
                ["max"] = samples.Length > 0 ? samples[^1] : double.NaN,
            };
            Log($"{scenario} {Setups.Name(mode, processes)} round {round}: published {published:N0}, lost {lost:N0}, last send to last delivery {metrics["drain_s"]:F2} s");
            return new Result(scenario, Setups.Name(mode, processes), $"{FloodClients} clients", metrics, round);
        }
        finally
        {
            await DisposeAllAsync(clients.Select(c => c.Connection));
        }
    }

    /// <summary>
    /// BENCH_PERF_OUT=&lt;dir&gt;: samples the servers' stacks during the flood with
    /// <c>perf record -e cpu-clock -g -p &lt;pids&gt; -- sleep &lt;flood seconds&gt;</c> into &lt;dir&gt;/F-&lt;mode&gt;-round&lt;n&gt;.perf.data
    /// (set DOTNET_PerfMapEnabled=1 so that perf can name JIT-compiled frames). See benchmarks/profile-F.sh.
    /// </summary>
    private Process? StartProfiler(ServerSet servers, string mode, int round)
    {
        if (Environment.GetEnvironmentVariable("BENCH_PERF_OUT") is not { Length: > 0 } dir)
        {
            return null;
        }
        Directory.CreateDirectory(dir);
        var info = new ProcessStartInfo("perf") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        var file = Path.Combine(dir, $"F-{mode}-round{round}.perf.data");
        foreach (var arg in new[] { "record", "-e", "cpu-clock", "-F", "999", "-g", "-o", file, "-p", string.Join(',', servers.Select(s => s.Pid)), "--", "sleep", _plan.FloodSeconds.ToString(CultureInfo.InvariantCulture) })
        {
            info.ArgumentList.Add(arg);
        }
        var perf = Process.Start(info) ?? throw new InvalidOperationException("Could not start perf.");
        perf.OutputDataReceived += (_, _) => { };
        perf.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { Length: > 0 } line)
            {
                Log("perf: " + line);
            }
        };
        perf.BeginOutputReadLine();
        perf.BeginErrorReadLine();
        Log($"profiling {string.Join(", ", servers.Select(s => s.Pid))} into {file}");
        return perf;
    }

    /// <summary>One client of scenario F: invokes Broadcast in a loop and checks what it receives from every sender.</summary>
    private sealed class FloodClient
    {
        private readonly int _id;
        private readonly SequenceTracker[] _seen;
        private readonly List<double> _latencies = [];
        private int _warmupReceived;

        public FloodClient(int id, HubConnection connection, int senders)
        {
            _id = id;
            Connection = connection;
            _seen = Enumerable.Range(0, senders).Select(_ => new SequenceTracker()).ToArray();
            // SignalR runs one connection's handlers one at a time: no locks per client.
            connection.On<LoadMessage>(LoadHub.Method, message =>
            {
                var now = Stopwatch.GetTimestamp();
                if (message.Sender >= FloodWarmupSenderBase)
                {
                    Interlocked.Increment(ref _warmupReceived);
                }
                else if (message.Sender >= 0 && message.Sender < _seen.Length && _seen[message.Sender].Record(message.Seq, now))
                {
                    lock (_latencies)
                    {
                        _latencies.Add((now - message.SentAt) * 1000.0 / Stopwatch.Frequency);
                    }
                }
            });
        }

        public HubConnection Connection { get; }

        public long Sent { get; private set; }

        public long LastSendCompleted { get; private set; }

        public int WarmupReceived => Volatile.Read(ref _warmupReceived);

        public long Distinct => _seen.Sum(s => s.Distinct);

        public long Duplicates => _seen.Sum(s => s.Duplicates);

        public long Reordered => _seen.Sum(s => s.Reordered);

        public long LastReceived => _seen.Max(s => s.LastReceived);

        /// <summary>Delivery latencies (ms) so far; a copy, since late messages may still arrive after a timeout.</summary>
        public double[] Latencies
        {
            get
            {
                lock (_latencies)
                {
                    return [.. _latencies];
                }
            }
        }

        public async Task WarmUpAsync(int count)
        {
            for (var i = 0; i < count; i++)
            {
                await Connection.InvokeAsync(nameof(LoadHub.Broadcast), new LoadMessage(FloodWarmupSenderBase + _id, i, Stopwatch.GetTimestamp()));
            }
        }

        /// <summary>
        /// As fast as the server accepts: an invocation completes when the hub method has returned on the server, so a
        /// completed call is an accepted message. With a window of 1 the next call starts then; a larger window keeps
        /// that many calls in flight (the server still runs them one at a time) to hide the loopback round trip.
        /// </summary>
        public async Task FloodAsync(long deadline, int window)
        {
            if (window == 0)
            {
                await SendFloodAsync(deadline);
                return;
            }
            var inFlight = new Queue<Task>(window);
            long seq = 0;
            while (Stopwatch.GetTimestamp() < deadline)
            {
                if (inFlight.Count >= window)
                {
                    await inFlight.Dequeue();
                    Sent++;
                    LastSendCompleted = Stopwatch.GetTimestamp();
                }
                inFlight.Enqueue(Connection.InvokeAsync(nameof(LoadHub.Broadcast), new LoadMessage(_id, seq++, Stopwatch.GetTimestamp())));
            }
            while (inFlight.Count > 0)
            {
                await inFlight.Dequeue();
                Sent++;
                LastSendCompleted = Stopwatch.GetTimestamp();
            }
        }

        /// <summary>
        /// Window 0 (BENCH_F_WINDOW=0): fire and forget, the flood as issue 20 first measured it. <c>SendAsync</c>
        /// completes once the invocation is written to the connection, so the senders run as fast as the server reads
        /// their sockets and the loopback buffers hold the backlog: the shape that once lost messages on the other
        /// process, because accepting a send was not paced by delivery there.
        /// </summary>
        private async Task SendFloodAsync(long deadline)
        {
            long seq = 0;
            while (Stopwatch.GetTimestamp() < deadline)
            {
                await Connection.SendAsync(nameof(LoadHub.Broadcast), new LoadMessage(_id, seq++, Stopwatch.GetTimestamp()));
                Sent++;
                LastSendCompleted = Stopwatch.GetTimestamp();
            }
        }
    }
}

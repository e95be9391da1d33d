using System.Diagnostics;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.SignalR;

namespace SqliteBackplane.Benchmarks;

/// <summary>The hub receivers connect to. Every message the benchmarks send is a broadcast to all of its connections.</summary>
public sealed class BenchHub : Hub
{
    /// <summary>The client method latency receivers listen on: (send timestamp, sequence number).</summary>
    public const string LatencyMethod = "m";

    /// <summary>The client method throughput and fan-out receivers listen on: (sender id, sequence number).</summary>
    public const string CountMethod = "t";

    /// <summary>Broadcasts the caller's send timestamp and sequence number to every connection of this hub.</summary>
    public Task Broadcast(long sentAt, long seq) => Clients.All.SendAsync(LatencyMethod, sentAt, seq);
}

/// <summary>
/// The hub latency senders connect to: its method broadcasts to every <see cref="BenchHub"/> connection on every
/// server. Senders sit on their own hub so that they do not receive the broadcasts themselves (Clients.All is per hub),
/// which keeps the driver's receive work at one delivery per message however many senders there are.
/// </summary>
public sealed class SendHub(IHubContext<BenchHub> receivers) : Hub
{
    public Task Broadcast(long sentAt, long seq) => receivers.Clients.All.SendAsync(BenchHub.LatencyMethod, sentAt, seq);
}

/// <summary>
/// One message of the load-shape scenarios (L and F): who sent it, its number in that sender's sequence, and the
/// sender's <see cref="Stopwatch.GetTimestamp"/> when it was sent (every client lives in the driver process, so
/// receive time minus <see cref="SentAt"/> is a latency on one monotonic clock).
/// </summary>
public sealed record LoadMessage(int Sender, long Seq, long SentAt);

/// <summary>The hub of scenarios L and F: what an application's chat-like hub does, a client method that broadcasts.</summary>
public sealed class LoadHub : Hub
{
    /// <summary>The client method every connection of this hub receives broadcasts on.</summary>
    public const string Method = "msg";

    /// <summary>Broadcasts the payload to every connection of this hub, on every server.</summary>
    public Task Broadcast(LoadMessage payload) => Clients.All.SendAsync(Method, payload);
}

/// <summary>What a server's /flood endpoint returns.</summary>
public sealed record FloodResult(int Sent, long ElapsedMicroseconds, int[]? SendMicroseconds);

/// <summary>The <c>server</c> subcommand: Kestrel on 127.0.0.1, a random port, the hub at /bench and a few control endpoints.</summary>
public static class BenchServer
{
    public const string ListeningPrefix = "LISTENING ";
    public const string HubPath = "/bench";
    public const string SendHubPath = "/send";
    public const string LoadHubPath = "/load";
    public const string DashboardPath = "/backplane";

    public static async Task<int> RunAsync(string[] args)
    {
        var mode = Arg(args, "--backplane") ?? "sqlite";
        var db = Arg(args, "--db");
        var prefix = Arg(args, "--prefix") ?? "signalr_";
        var redis = Arg(args, "--redis");
        if (mode is not ("sqlite" or "none" or "sqlite-poll" or "sqlite-resume" or "sqlite-dashboard" or "redis"))
        {
            await Console.Error.WriteLineAsync($"--backplane must be sqlite, none, sqlite-poll, sqlite-resume, sqlite-dashboard or redis, not '{mode}'.");
            return 2;
        }
        if (mode == "redis" && string.IsNullOrEmpty(redis))
        {
            await Console.Error.WriteLineAsync("--redis <host:port> is required with the Redis backplane.");
            return 2;
        }
        if (mode is "sqlite" or "sqlite-poll" or "sqlite-resume" or "sqlite-dashboard" && string.IsNullOrEmpty(db))
        {
            await Console.Error.WriteLineAsync("--db <file> is required with a SQLite backplane.");
            return 2;
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("SqliteBackplane", LogLevel.Information);
        builder.WebHost.UseUrls("http://127.0.0.1:0");

        var signalR = builder.Services.AddSignalR();
        if (mode == "redis")
        {
            // Microsoft's backplane with its defaults, as an application would add it.
            signalR.AddStackExchangeRedis(redis!, options => options.Configuration.ChannelPrefix = StackExchange.Redis.RedisChannel.Literal(prefix));
        }
        else if (mode != "none")
        {
            signalR.AddSqliteBackplane(options =>
            {
                options.ConnectionString = $"Data Source={db}";
                options.TablePrefix = prefix;
                // Resume on, for the cost of clients that opt in (issue 14); the clients of this setup use the .NET helper.
                options.EnableResume = mode == "sqlite-resume";
                if (mode == "sqlite-poll")
                {
                    // The seeds' design: no wake-ups, other processes find new rows by polling every 100 ms.
                    options.EnableWakeups = false;
                    options.SafetyPollInterval = TimeSpan.FromMilliseconds(100);
                }
            });
        }

        await using var app = builder.Build();
        app.UseWebSockets();
        app.MapHub<BenchHub>(HubPath);
        app.MapHub<SendHub>(SendHubPath);
        app.MapHub<LoadHub>(LoadHubPath);
        if (mode == "sqlite-dashboard")
        {
            // Issue 19's cost: the dashboard with its defaults; the driver keeps one page's event stream open on each server.
            app.MapSqliteBackplaneDashboard(DashboardPath);
        }
        app.MapGet("/flood", (IHubContext<BenchHub> hub, int count, int concurrency, int sender, int? durationMs, int? rate, bool? samples) =>
            FloodAsync(hub, count, concurrency, sender, durationMs ?? 0, rate ?? 0, samples ?? false));
        app.MapGet("/broadcast", (IHubContext<BenchHub> hub, int count, int rate) => BroadcastAsync(hub, count, rate));
        app.MapGet("/gc", () =>
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            return Results.Text(Environment.WorkingSet.ToString(System.Globalization.CultureInfo.InvariantCulture));
        });

        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Console.Out.WriteLine(ListeningPrefix + address.TrimEnd('/'));
        Console.Out.Flush();

        // The driver holds our stdin open; when it closes it (or dies), stop.
        _ = Task.Run(async () =>
        {
            try
            {
                await Console.In.ReadToEndAsync();
            }
            catch (IOException)
            {
            }
            await app.StopAsync();
        });
        await app.WaitForShutdownAsync();
        return 0;
    }

    /// <summary>
    /// Sends <paramref name="count"/> messages to all connections through the hub context (the backplane's publish path),
    /// timing each send call. rate = 0: <paramref name="concurrency"/> closed loops, flat out. rate &gt; 0: an open loop
    /// paced at that many sends per second (at most <paramref name="concurrency"/> outstanding is not enforced: a stalled
    /// commit shows up as long send durations). Stops early after <paramref name="durationMs"/> if given.
    /// </summary>
    private static async Task<IResult> FloodAsync(IHubContext<BenchHub> hub, int count, int concurrency, int sender, int durationMs, int rate, bool samples)
    {
        count = Math.Clamp(count, 0, 10_000_000);
        concurrency = Math.Clamp(concurrency, 1, 1024);
        var durations = new int[count];
        var deadline = durationMs > 0 ? Stopwatch.GetTimestamp() + durationMs * Stopwatch.Frequency / 1000 : long.MaxValue;
        var start = Stopwatch.GetTimestamp();
        var sent = 0;
        if (rate <= 0)
        {
            var next = -1;
            async Task LoopAsync()
            {
                while (true)
                {
                    var i = Interlocked.Increment(ref next);
                    if (i >= count || Stopwatch.GetTimestamp() > deadline)
                    {
                        return;
                    }
                    var t0 = Stopwatch.GetTimestamp();
                    await hub.Clients.All.SendAsync(BenchHub.CountMethod, sender, (long)i);
                    durations[i] = ToMicroseconds(Stopwatch.GetTimestamp() - t0);
                    Interlocked.Increment(ref sent);
                }
            }
            await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(LoopAsync)));
        }
        else
        {
            var pending = new List<Task>(count);
            for (var i = 0; i < count; i++)
            {
                var due = start + i * Stopwatch.Frequency / rate;
                var now = Stopwatch.GetTimestamp();
                if (now > deadline)
                {
                    break;
                }
                if (due > now)
                {
                    await Task.Delay(TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond, (due - now) * TimeSpan.TicksPerSecond / Stopwatch.Frequency)));
                }
                var index = i;
                pending.Add(TimedSendAsync(index));
            }
            await Task.WhenAll(pending);

            async Task TimedSendAsync(int index)
            {
                var t0 = Stopwatch.GetTimestamp();
                await hub.Clients.All.SendAsync(BenchHub.CountMethod, sender, (long)index);
                durations[index] = ToMicroseconds(Stopwatch.GetTimestamp() - t0);
                Interlocked.Increment(ref sent);
            }
        }
        var elapsed = ToMicroseconds(Stopwatch.GetTimestamp() - start);
        return Results.Json(new FloodResult(sent, elapsed, samples ? durations[..sent] : null));
    }

    /// <summary>
    /// The fan-out scenario's publisher: <paramref name="count"/> broadcasts to every <see cref="BenchHub"/> connection at
    /// <paramref name="rate"/> per second, each carrying its send timestamp and number; returns how many were sent.
    /// </summary>
    private static async Task<IResult> BroadcastAsync(IHubContext<BenchHub> hub, int count, int rate)
    {
        count = Math.Clamp(count, 0, 1_000_000);
        rate = Math.Clamp(rate, 1, 100_000);
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < count; i++)
        {
            var due = start + i * Stopwatch.Frequency / rate;
            if (Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due) is { Ticks: > 0 } wait)
            {
                await Task.Delay(wait);
            }
            await hub.Clients.All.SendAsync(BenchHub.LatencyMethod, Stopwatch.GetTimestamp(), (long)i);
        }
        return Results.Text(count.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    private static int ToMicroseconds(long ticks) => (int)Math.Min(int.MaxValue, ticks * 1_000_000 / Stopwatch.Frequency);

    private static string? Arg(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}

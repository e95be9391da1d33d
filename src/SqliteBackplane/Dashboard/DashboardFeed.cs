using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SqliteBackplane.Health;
using SqliteBackplane.Internal.Node;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane.Dashboard;

/// <summary>
/// The one loop behind every open page of a mapped dashboard. It runs only while at least one page is connected: the
/// first page starts it, the last one to leave stops it (its timer, its presence subscriptions, its health probes, and
/// so the other nodes' publishing, which lapses a few seconds later). Once a second it reads a snapshot on the node's
/// query thread, serializes it once and hands the same bytes to every page. Every list it keeps is bounded.
/// </summary>
internal sealed class DashboardFeed(IOptions<SqliteBackplaneOptions> options, ILoggerFactory loggerFactory, SqliteBackplaneDashboardOptions dashboardOptions)
{
    public const int TailRows = 50;
    public const int RateSeconds = 300;
    public const int PresenceChanges = 50;

    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);
    private const int WatchEveryTicks = 2;
    private const int HealthEveryTicks = 5;

    private readonly object _lock = new();
    private readonly List<Channel<byte[]>> _pages = [];
    private CancellationTokenSource? _running;
    private Task _loop = Task.CompletedTask;
    private byte[]? _latest;

    /// <summary>How many pages are connected now.</summary>
    public int PageCount
    {
        get
        {
            lock (_lock)
            {
                return _pages.Count;
            }
        }
    }

    /// <summary>Whether the loop runs (a page is connected, or the last one left a moment ago and it is stopping).</summary>
    public bool IsRunning => !_loop.IsCompleted;

    /// <summary>Connects a page; it receives the latest snapshot at once (when there is one) and each new one. Dispose to leave.</summary>
    public PageSubscription Connect()
    {
        var channel = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        lock (_lock)
        {
            _pages.Add(channel);
            if (_latest is { } latest)
            {
                channel.Writer.TryWrite(latest);
            }

            if (_running is null)
            {
                _running = new CancellationTokenSource();
                var previous = _loop;
                var token = _running.Token;
                _loop = Task.Run(async () =>
                {
                    await previous.ConfigureAwait(false);
                    await RunAsync(token).ConfigureAwait(false);
                }, CancellationToken.None);
            }
        }

        return new PageSubscription(this, channel);
    }

    /// <summary>A hub's 20 largest groups whose name contains <paramref name="search"/>, read now (the page's search box).</summary>
    public async Task<List<DashboardGroup>> SearchGroupsAsync(string hub, string? search, CancellationToken cancellationToken)
    {
        var hold = BackplaneNodeHold.Acquire(options.Value, loggerFactory.CreateLogger(BackplaneNode.LogCategory));
        try
        {
            var reader = new DashboardReader(hold.Node.Database.Queries, hold.Node.Protection, dashboardOptions.ShowPayloads);
            await hold.Node.EnsureStartedAsync().WaitAsync(cancellationToken);
            return await hold.Node.QueryAsync(c => reader.ReadGroups(c, hub, search), cancellationToken);
        }
        finally
        {
            await hold.ReleaseAsync();
        }
    }

    private void Leave(Channel<byte[]> channel)
    {
        lock (_lock)
        {
            if (_pages.Remove(channel) && _pages.Count == 0 && _running is { } running)
            {
                running.Cancel();
                running.Dispose();
                _running = null;
                _latest = null;
            }
        }
    }

    private void Publish(byte[] snapshot, CancellationToken token)
    {
        lock (_lock)
        {
            if (token.IsCancellationRequested)
            {
                return;
            }

            _latest = snapshot;
            foreach (var page in _pages)
            {
                page.Writer.TryWrite(snapshot);
            }
        }
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        var logger = loggerFactory.CreateLogger(BackplaneNode.LogCategory);
        var hold = BackplaneNodeHold.Acquire(options.Value, logger);
        var node = hold.Node;
        var health = new SqliteBackplaneHealthCheck(options, loggerFactory, TimeSpan.FromSeconds(5));
        var presence = new DashboardPresence(node);
        try
        {
            await node.EnsureStartedAsync().WaitAsync(stopping);
            var state = new LoopState(node, new DashboardReader(node.Database.Queries, node.Protection, dashboardOptions.ShowPayloads));
            using var timer = new PeriodicTimer(Tick);
            do
            {
                try
                {
                    await TickAsync(state, presence, health, stopping);
                }
                catch (Exception ex) when (!stopping.IsCancellationRequested)
                {
                    // The file is briefly unreadable: the page keeps its last picture and says so on the next snapshot.
                    BackplaneEvents.DashboardSnapshotFailed(logger, ex);
                }
            }
            while (await timer.WaitForNextTickAsync(stopping));
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex)
        {
            BackplaneEvents.DashboardSnapshotFailed(logger, ex);
        }
        finally
        {
            presence.Dispose();
            await health.DisposeAsync();
            await hold.ReleaseAsync();
        }
    }

    private async Task TickAsync(LoopState state, DashboardPresence presence, SqliteBackplaneHealthCheck health, CancellationToken stopping)
    {
        var node = state.Node;
        state.Ticks++;
        presence.SubscribeNewHubs();
        if (state.Ticks % WatchEveryTicks == 1)
        {
            // Tell every node on the file to publish its figures for a few more seconds (see NodeStatsPublisher).
            var create = node.Options.AutoCreateSchema;
            await node.WriteAsync(new DelegateWriteOperation<int>(context =>
            {
                NodeStatsRows.MarkWatched(context, create);
                return 0;
            })).WaitAsync(stopping);
        }

        if (state.Ticks % HealthEveryTicks == 1)
        {
            var result = await health.CheckHealthAsync(new HealthCheckContext
            {
                Registration = new HealthCheckRegistration("sqlite-backplane", health, HealthStatus.Unhealthy, null),
            }, stopping);
            state.Health = (result.Status.ToString(), result.Description);
        }

        var tailAfter = state.TailAfter;
        var read = await node.QueryAsync(c => state.Reader.ReadAll(c, tailAfter, TailRows), stopping);
        var now = node.Options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();

        foreach (var change in presence.Drain())
        {
            if (change.Kind is "NodeLeft" or "NodeReaped")
            {
                state.Nodes.Departed(change.Node, change.Kind == "NodeReaped", now);
            }

            state.Presence.Enqueue(change);
        }

        Trim(state.Presence, PresenceChanges);
        foreach (var row in read.Tail)
        {
            state.Tail.Enqueue(row);
            state.TailAfter = row.Id;
        }

        Trim(state.Tail, TailRows);
        var lastId = read.LastId ?? state.LastId ?? 0;
        if (state.LastId is { } previousLast && state.LastAt > 0)
        {
            state.Rates.Enqueue(Math.Max(0, lastId - previousLast) / Math.Max(0.001, (now - state.LastAt) / 1000.0));
            Trim(state.Rates, RateSeconds);
        }

        state.LastId = lastId;
        state.LastAt = now;

        var nodes = state.Nodes.Update(now, read.Nodes, read.Figures);
        var figures = read.Figures.Values.Select(f => f.Figures).ToList();
        var resume = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var (key, count) in figures.SelectMany(f => f.Resume))
        {
            resume[key] = resume.GetValueOrDefault(key) + count;
        }

        var path = node.Database.Path;
        var log = new DashboardLog(
            Rows: read.FirstId is { } first && read.LastId is { } last ? last - first + 1 : 0,
            FirstId: read.FirstId,
            LastId: read.LastId,
            OldestAgeMs: read.OldestCreatedAt is { } oldest ? Math.Max(0, now - oldest) : null,
            FileBytes: FileLength(path),
            WalBytes: FileLength(path + "-wal"),
            RowsPerSecond: [.. state.Rates],
            Expired: figures.Sum(f => f.Expired),
            DroppedOldest: figures.Sum(f => f.DroppedOldest),
            Dropped: figures.Sum(f => f.Dropped),
            WriteFailures: figures.Sum(f => f.WriteFailures),
            Health: state.Health?.Status,
            HealthDescription: state.Health?.Description);

        var snapshot = new DashboardSnapshot(now, node.NodeId, path, nodes, read.Hubs, log, resume, [.. state.Tail.Reverse()],
            [.. state.Presence.Reverse()], dashboardOptions.ShowPayloads);
        Publish(JsonSerializer.SerializeToUtf8Bytes(snapshot, DashboardJson.Default.DashboardSnapshot), stopping);
    }

    private static void Trim<T>(Queue<T> queue, int max)
    {
        while (queue.Count > max)
        {
            queue.Dequeue();
        }
    }

    private static long FileLength(string path)
    {
        try
        {
            return new FileInfo(path) is { Exists: true } file ? file.Length : 0;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    private sealed class LoopState(BackplaneNode node, DashboardReader reader)
    {
        public BackplaneNode Node { get; } = node;
        public DashboardReader Reader { get; } = reader;
        public DashboardNodeTracker Nodes { get; } = new(node.NodeId, node.Options.HeartbeatInterval, node.Options.NodeTimeout);
        public Queue<DashboardTailRow> Tail { get; } = new();
        public Queue<DashboardPresenceChange> Presence { get; } = new();
        public Queue<double> Rates { get; } = new();
        public long Ticks { get; set; }
        public long TailAfter { get; set; }
        public long? LastId { get; set; }
        public long LastAt { get; set; }
        public (string Status, string? Description)? Health { get; set; }
    }

    /// <summary>One connected page: read snapshots from <see cref="Reader"/>; dispose when the page goes.</summary>
    public sealed class PageSubscription(DashboardFeed feed, Channel<byte[]> channel) : IDisposable
    {
        private int _disposed;

        public ChannelReader<byte[]> Reader => channel.Reader;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                feed.Leave(channel);
            }
        }
    }
}

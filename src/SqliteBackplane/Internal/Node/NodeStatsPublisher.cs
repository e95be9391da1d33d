using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane.Internal.Node;

/// <summary>
/// Publishes this node's figures (<see cref="NodeFigures"/>) to the node_stats table once a second, but only while some
/// dashboard watches the file. A dashboard marks the file watched in the meta table (a "watched until" time); the
/// maintenance timer reads that mark in the heartbeat's own transaction (<see cref="CheckWatched"/>, one primary-key
/// lookup) and calls <see cref="Observe"/>, which starts publishing. Publishing stops, and the node's row is removed,
/// once the mark has passed. While nobody watches, nothing here runs and the counters have no listener.
/// </summary>
internal sealed class NodeStatsPublisher(string nodeId, Action<WriteOperation> enqueue, Func<long> readerBacklog, Func<long> appliedPosition,
    Func<int> localConnections, TimeProvider timeProvider)
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    private readonly object _lock = new();
    private Task? _running;
    private long _watchedUntilMs;

    /// <summary>Whether the node is publishing now.</summary>
    public bool IsPublishing
    {
        get
        {
            lock (_lock)
            {
                return _running is { IsCompleted: false };
            }
        }
    }

    /// <summary>An operation that reads the watched-until mark (0 when none or unreadable); queued beside the heartbeat.</summary>
    public static WriteOperation<long> CheckWatched() => new DelegateWriteOperation<long>(ReadWatchedUntil);

    /// <summary>Starts publishing when <paramref name="watchedUntilMs"/> is still ahead.</summary>
    public void Observe(long watchedUntilMs, CancellationToken stopping)
    {
        Volatile.Write(ref _watchedUntilMs, watchedUntilMs);
        if (watchedUntilMs <= NowMs() || stopping.IsCancellationRequested)
        {
            return;
        }

        lock (_lock)
        {
            if (_running is null || _running.IsCompleted)
            {
                _running = Task.Run(() => PublishAsync(stopping), CancellationToken.None);
            }
        }
    }

    private async Task PublishAsync(CancellationToken stopping)
    {
        using var counters = new NodeCounters(nodeId);
        using var timer = new PeriodicTimer(Interval, timeProvider);
        var since = NowMs();
        try
        {
            do
            {
                var figures = counters.Snapshot(since) with { LagRows = readerBacklog(), Connections = localConnections() };
                var applied = appliedPosition();
                var write = new DelegateWriteOperation<long>(context =>
                {
                    var oldestUnread = context.Scalar(context.Queries.SelectFirstCreatedAfter, (Columns.Cursor, applied)) is long created ? created : context.NowMs;
                    var json = JsonSerializer.Serialize(figures with { LagMs = Math.Max(0, context.NowMs - oldestUnread) }, NodeFiguresJson.Default.NodeFigures);
                    context.Execute(context.Queries.UpsertNodeStats, (Columns.Node, nodeId), (Columns.Now, context.NowMs), (Columns.Value, json));
                    return ReadWatchedUntil(context);
                });
                enqueue(write);
                Volatile.Write(ref _watchedUntilMs, await write.Task);
            }
            while (Volatile.Read(ref _watchedUntilMs) > NowMs() && await timer.WaitForNextTickAsync(stopping));

            var remove = new DelegateWriteOperation<int>(context => context.Execute(context.Queries.DeleteNodeStats, (Columns.Node, nodeId)));
            enqueue(remove);
            await remove.Task;
        }
        catch (Exception)
        {
            // The table is missing (a file whose schema the app does not create), the node is stopping, or the write
            // failed: the dashboard shows this node without figures; the next heartbeat that sees the mark tries again.
        }
    }

    private static long ReadWatchedUntil(WriterContext context)
    {
        try
        {
            return context.Scalar(context.Queries.SelectWatchedUntil) is string text
                && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var until) ? until : 0;
        }
        catch (SqliteException)
        {
            return 0;
        }
    }

    private long NowMs() => timeProvider.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>This node's counters, listened to on its own meter while publishing; nothing listens otherwise.</summary>
    private sealed class NodeCounters : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly string _nodeId;
        private readonly Dictionary<string, long> _resume = [];
        private long _published;
        private long _delivered;
        private long _expired;
        private long _droppedOldest;
        private long _dropped;
        private long _writeFailures;

        public NodeCounters(string nodeId)
        {
            _nodeId = nodeId;
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (IsOurs(instrument) && (Target(instrument.Name) is not null || instrument.Name == "sqlitebackplane.resume.attempts"))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>(OnMeasurement);
            _listener.Start();
        }

        public NodeFigures Snapshot(long since)
        {
            Dictionary<string, long> resume;
            lock (_resume)
            {
                resume = new Dictionary<string, long>(_resume, StringComparer.Ordinal);
            }

            return new NodeFigures
            {
                Since = since,
                Published = Interlocked.Read(ref _published),
                Delivered = Interlocked.Read(ref _delivered),
                Expired = Interlocked.Read(ref _expired),
                DroppedOldest = Interlocked.Read(ref _droppedOldest),
                Dropped = Interlocked.Read(ref _dropped),
                WriteFailures = Interlocked.Read(ref _writeFailures),
                Resume = resume,
            };
        }

        public void Dispose() => _listener.Dispose();

        private bool IsOurs(Instrument instrument) =>
            instrument.Meter.Name == SqliteBackplaneOptions.MeterName
            && instrument.Meter.Tags is { } tags
            && tags.Any(t => t.Key == "sqlitebackplane.node.id" && Equals(t.Value, _nodeId));

        private void OnMeasurement(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
        {
            if (instrument.Name == "sqlitebackplane.resume.attempts")
            {
                string? outcome = null, reason = null;
                foreach (var tag in tags)
                {
                    if (tag.Key == "outcome")
                    {
                        outcome = tag.Value as string;
                    }
                    else if (tag.Key == "reason")
                    {
                        reason = tag.Value as string;
                    }
                }

                var key = reason is null ? outcome ?? "unknown" : $"{outcome}:{reason}";
                lock (_resume)
                {
                    _resume[key] = _resume.GetValueOrDefault(key) + value;
                }

                return;
            }

            switch (instrument.Name)
            {
                case "sqlitebackplane.messages.published": Interlocked.Add(ref _published, value); break;
                case "sqlitebackplane.messages.delivered": Interlocked.Add(ref _delivered, value); break;
                case "sqlitebackplane.rows.expired": Interlocked.Add(ref _expired, value); break;
                case "sqlitebackplane.rows.dropped_oldest": Interlocked.Add(ref _droppedOldest, value); break;
                case "sqlitebackplane.messages.dropped": Interlocked.Add(ref _dropped, value); break;
                case "sqlitebackplane.write.failures": Interlocked.Add(ref _writeFailures, value); break;
            }
        }

        private static string? Target(string name) => name switch
        {
            "sqlitebackplane.messages.published" or "sqlitebackplane.messages.delivered" or "sqlitebackplane.rows.expired"
                or "sqlitebackplane.rows.dropped_oldest" or "sqlitebackplane.messages.dropped" or "sqlitebackplane.write.failures" => name,
            _ => null,
        };
    }
}

using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane.Dashboard;

/// <summary>
/// Turns each second's node rows and figures into what the page shows: live, late (no heartbeat for two intervals) or
/// gone. A node that leaves the nodes table stays listed as gone for <see cref="GoneLinger"/>, with why: graceful (it
/// removed itself), crash detected (reaped while its heartbeat was recent: its lock file was released, the kernel's
/// word that the process died), timeout (reaped after its heartbeat went silent), or removed (no presence change was
/// seen). Messages per second come from the difference between two readings of a node's published counters.
/// Bounded: it holds the nodes on the file plus those gone in the last few seconds.
/// </summary>
internal sealed class DashboardNodeTracker(string selfNodeId, TimeSpan heartbeatInterval, TimeSpan nodeTimeout)
{
    public static readonly TimeSpan GoneLinger = TimeSpan.FromSeconds(10);

    /// <summary>How long a vanished node waits for its presence change to give the reason.</summary>
    public static readonly TimeSpan ReasonWait = TimeSpan.FromSeconds(3);

    private readonly Dictionary<string, Entry> _nodes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Reason, long At)> _departures = new(StringComparer.Ordinal);

    /// <summary>A node left (graceful) or was reaped, as the presence feed reported it.</summary>
    public void Departed(string nodeId, bool reaped, long nowMs)
    {
        string reason;
        if (!reaped)
        {
            reason = "graceful";
        }
        else
        {
            var silence = _nodes.TryGetValue(nodeId, out var entry) ? nowMs - entry.Row.HeartbeatAt : 0;
            reason = silence >= nodeTimeout.TotalMilliseconds ? "timeout" : "crash detected";
        }

        _departures[nodeId] = (reason, nowMs);
        if (_nodes.TryGetValue(nodeId, out var known) && known.GoneAt is not null)
        {
            known.Reason = reason;
        }
    }

    public List<DashboardNode> Update(long nowMs, List<DashboardReader.NodeRow> rows, Dictionary<string, (long UpdatedAt, NodeFigures Figures)> figures)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var row in rows)
        {
            seen.Add(row.NodeId);
            if (!_nodes.TryGetValue(row.NodeId, out var entry))
            {
                _nodes[row.NodeId] = entry = new Entry(row);
            }

            entry.Row = row;
            if (figures.TryGetValue(row.NodeId, out var published))
            {
                entry.Observe(published.UpdatedAt, published.Figures);
            }
        }

        foreach (var (id, entry) in _nodes)
        {
            if (!seen.Contains(id) && entry.GoneAt is null)
            {
                entry.GoneAt = nowMs;
            }

            if (entry.GoneAt is { } goneAt && entry.Reason is null)
            {
                // The presence feed says why, but this process's reader may apply the node's removal a moment after the
                // nodes table shows it: wait for it a few seconds before calling the node merely removed.
                entry.Reason = _departures.TryGetValue(id, out var departure) ? departure.Reason
                    : goneAt - entry.Row.HeartbeatAt >= nodeTimeout.TotalMilliseconds ? "timeout"
                    : nowMs - goneAt >= ReasonWait.TotalMilliseconds ? "removed" : null;
            }
        }

        var linger = (long)GoneLinger.TotalMilliseconds;
        foreach (var id in _nodes.Where(n => n.Value.GoneAt is { } gone && nowMs - gone > linger).Select(n => n.Key).ToList())
        {
            _nodes.Remove(id);
        }

        foreach (var id in _departures.Where(d => nowMs - d.Value.At > 6 * linger).Select(d => d.Key).ToList())
        {
            _departures.Remove(id);
        }

        return [.. _nodes.Values.OrderBy(e => e.Row.StartedAt).ThenBy(e => e.Row.NodeId, StringComparer.Ordinal).Select(e => View(e, nowMs))];
    }

    private DashboardNode View(Entry entry, long nowMs)
    {
        var row = entry.Row;
        var heartbeatAge = Math.Max(0, nowMs - row.HeartbeatAt);
        var state = entry.GoneAt is not null ? "gone" : heartbeatAge > 2 * heartbeatInterval.TotalMilliseconds ? "late" : "live";

        // Figures older than a few seconds are stale (the node stopped publishing or died).
        var current = entry.Figures is not null && entry.GoneAt is null && nowMs - entry.FiguresAt < 5_000;
        return new DashboardNode(row.NodeId, row.Machine, row.Pid, row.StartedAt, heartbeatAge, state, entry.Reason, row.Connections,
            row.NodeId == selfNodeId,
            current ? entry.Figures!.LagRows : null,
            current ? entry.Figures!.LagMs : null,
            current ? entry.Figures!.Connections : null,
            current ? entry.InPerSecond : null,
            current ? entry.OutPerSecond : null);
    }

    private sealed class Entry(DashboardReader.NodeRow row)
    {
        public DashboardReader.NodeRow Row { get; set; } = row;
        public long? GoneAt { get; set; }
        public string? Reason { get; set; }
        public NodeFigures? Figures { get; private set; }
        public long FiguresAt { get; private set; }
        public double InPerSecond { get; private set; }
        public double OutPerSecond { get; private set; }

        public void Observe(long updatedAt, NodeFigures figures)
        {
            if (Figures is { } previous && updatedAt > FiguresAt && figures.Since == previous.Since)
            {
                var seconds = (updatedAt - FiguresAt) / 1000.0;
                InPerSecond = Math.Max(0, figures.Delivered - previous.Delivered) / seconds;
                OutPerSecond = Math.Max(0, figures.Published - previous.Published) / seconds;
            }
            else if (Figures is { } restarted && figures.Since != restarted.Since)
            {
                InPerSecond = OutPerSecond = 0;
            }

            if (updatedAt != FiguresAt)
            {
                Figures = figures;
                FiguresAt = updatedAt;
            }
        }
    }
}

namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// When a node counts as dead: its heartbeat is older than the node timeout. The comparison itself is SQL
/// (<see cref="SqliteQueries.SelectDeadNodes"/>, <see cref="SqliteQueries.SelectNodeStatus"/>); this computes the
/// deadline both bind, so reapers and the maintenance tool never disagree.
/// </summary>
internal static class NodeLiveness
{
    /// <summary>The heartbeat time (Unix ms) below which a node is dead at <paramref name="nowMs"/>.</summary>
    public static long Deadline(long nowMs, TimeSpan nodeTimeout) => nowMs - (long)nodeTimeout.TotalMilliseconds;
}

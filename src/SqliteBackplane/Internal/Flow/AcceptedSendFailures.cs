using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane.Internal.Flow;

/// <summary>
/// Sends that failed after their callers had returned (they were queued, then their batch failed): counted here and in
/// the metrics, and reported by the health check; the writer has logged each one.
/// </summary>
internal sealed class AcceptedSendFailures(BackplaneMetrics metrics)
{
    private long _count;
    private volatile Tuple<Exception, DateTimeOffset>? _lastBox;

    /// <summary>Sends that failed after their callers had returned, since the node started.</summary>
    public long Count => Interlocked.Read(ref _count);

    /// <summary>The last failure of an accepted send, and when it happened; null if none.</summary>
    public (Exception Error, DateTimeOffset At)? Last => _lastBox is { } box ? (box.Item1, box.Item2) : null;

    /// <summary>Counts one failed accepted send.</summary>
    public void Record(Exception failure)
    {
        Interlocked.Increment(ref _count);
        _lastBox = Tuple.Create(failure, DateTimeOffset.UtcNow);
        metrics.FailedAfterAccept();
    }
}

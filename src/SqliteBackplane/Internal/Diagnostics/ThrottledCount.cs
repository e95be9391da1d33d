namespace SqliteBackplane.Internal.Diagnostics;

/// <summary>
/// Accumulates a count of events that are logged at most once per interval (so a flood of skipped or dropped rows
/// gives one line every few seconds). Not thread-safe: each instance belongs to one loop thread.
/// </summary>
internal sealed class ThrottledCount(TimeProvider timeProvider, TimeSpan interval)
{
    private long _pending;
    private long _lastReport;

    /// <summary>Adds <paramref name="count"/>; returns the total to report when the interval has passed since the last report, else 0.</summary>
    public long Add(long count)
    {
        _pending += count;
        var now = timeProvider.GetTimestamp();
        if (_lastReport != 0 && timeProvider.GetElapsedTime(_lastReport, now) < interval)
        {
            return 0;
        }

        var total = _pending;
        _pending = 0;
        _lastReport = now;
        return total;
    }
}

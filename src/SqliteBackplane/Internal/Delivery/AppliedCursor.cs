using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane.Internal.Delivery;

/// <summary>
/// The id of the last log row this node's reader has dispatched, and direct writes waiting on it. A direct send to a
/// local connection must not overtake rows this node queued before it ("read your own writes"), so it is registered
/// here at call time and performed by the reader thread right after the last of those rows, before any later row.
/// Deferred writes run in registration order, which keeps each caller's order.
/// </summary>
internal sealed class AppliedCursor
{
    private readonly object _lock = new();
    private readonly Queue<(WriteOperation After, Action Write)> _deferred = new();
    private long _applied;

    // Deferred writes queued or being registered. A registrant raises it before checking readiness and the reader
    // publishes its position before reading it (both with full fences), so the reader never misses a write that
    // became ready while it was being registered.
    private int _deferredCount;

    public AppliedCursor(long start) => _applied = start;

    public long Applied => Volatile.Read(ref _applied);

    public bool HasDeferred => Volatile.Read(ref _deferredCount) > 0;

    /// <summary>Called by the reader after dispatching row <paramref name="id"/>, before dispatching the next.</summary>
    public void Advance(long id)
    {
        Interlocked.Exchange(ref _applied, id);
        if (HasDeferred)
        {
            RunReady();
        }
    }

    /// <summary>
    /// Runs <paramref name="write"/> once the row of <paramref name="after"/> (and every earlier row) is dispatched:
    /// at once on this thread when that is already so, else later on the reader thread.
    /// </summary>
    public void RunAfter(WriteOperation? after, Action write)
    {
        if (after is null)
        {
            write();
            return;
        }

        Interlocked.Increment(ref _deferredCount);
        var runNow = false;
        lock (_lock)
        {
            if (_deferred.Count == 0 && IsReady(after))
            {
                runNow = true;
            }
            else
            {
                _deferred.Enqueue((after, write));
            }
        }

        if (runNow)
        {
            Interlocked.Decrement(ref _deferredCount);
            write();
        }
    }

    /// <summary>Runs, in order, every deferred write whose rows are dispatched; called by the reader.</summary>
    public void RunReady()
    {
        List<Action>? ready = null;
        lock (_lock)
        {
            while (_deferred.Count > 0 && IsReady(_deferred.Peek().After))
            {
                (ready ??= []).Add(_deferred.Dequeue().Write);
                Interlocked.Decrement(ref _deferredCount);
            }
        }

        if (ready is not null)
        {
            foreach (var write in ready)
            {
                write();
            }
        }
    }

    /// <summary>Starts over at <paramref name="position"/> in a new log (the file was replaced); waiting writes go out now.</summary>
    public void Reset(long position)
    {
        Interlocked.Exchange(ref _applied, position);
        ReleaseAll();
    }

    /// <summary>Runs every deferred write, for shutdown: nothing more will be dispatched.</summary>
    public void ReleaseAll()
    {
        List<Action> all;
        lock (_lock)
        {
            all = [.. _deferred.Select(d => d.Write)];
            Interlocked.Add(ref _deferredCount, -_deferred.Count);
            _deferred.Clear();
        }

        foreach (var write in all)
        {
            write();
        }
    }

    private bool IsReady(WriteOperation operation) => operation.IsPositioned && operation.LogPosition <= Applied;
}

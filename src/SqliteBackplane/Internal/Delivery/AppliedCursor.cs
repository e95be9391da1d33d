namespace SqliteBackplane.Internal.Delivery;

/// <summary>
/// The id of the last log row this node's reader has dispatched, and waiters for it to pass a given id. Used for
/// "read your own writes": a direct send to a local connection first waits until every row this node committed
/// before it has been dispatched.
/// </summary>
internal sealed class AppliedCursor
{
    private readonly object _lock = new();
    private readonly List<(long Id, TaskCompletionSource Waiter)> _waiters = [];
    private long _applied;

    public AppliedCursor(long start) => _applied = start;

    public long Applied => Volatile.Read(ref _applied);

    public void Advance(long id)
    {
        Volatile.Write(ref _applied, id);
        lock (_lock)
        {
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Id <= id)
                {
                    _waiters[i].Waiter.TrySetResult();
                    _waiters.RemoveAt(i);
                }
            }
        }
    }

    public Task WaitForAsync(long id)
    {
        if (Applied >= id)
        {
            return Task.CompletedTask;
        }

        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (Applied >= id)
            {
                return Task.CompletedTask;
            }

            _waiters.Add((id, waiter));
        }

        return waiter.Task;
    }

    /// <summary>Releases every waiter, for shutdown: nothing more will be applied.</summary>
    public void ReleaseAll()
    {
        lock (_lock)
        {
            foreach (var (_, waiter) in _waiters)
            {
                waiter.TrySetResult();
            }

            _waiters.Clear();
        }
    }
}

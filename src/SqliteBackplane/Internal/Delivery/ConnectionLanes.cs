namespace SqliteBackplane.Internal.Delivery;

/// <summary>
/// Spreads the writes of large local fan-outs over a few lanes that run on the thread pool, so that one reader thread
/// is not the only thread writing to a thousand connections while <c>DefaultHubLifetimeManager</c> writes from every
/// sending thread at once. Each connection always maps to the same lane and a lane runs its work one item at a time in
/// posting order, so a connection still sees rows in log order. A write for a connection whose lane is idle runs on
/// the caller at once (no hand-off for small fan-outs); a write for a connection whose lane still has work queues
/// behind that work, so it cannot overtake an earlier row.
/// </summary>
internal sealed class ConnectionLanes
{
    /// <summary>A row with at least this many local recipients is written through the lanes.</summary>
    public const int MinRecipientsForLanes = 32;

    private readonly Lane[] _lanes;

    /// <param name="laneCount">How many lanes; each runs on at most one thread-pool thread at a time.</param>
    /// <param name="onError">Told of an exception a work item let escape; the lane goes on with the next item.</param>
    public ConnectionLanes(int laneCount, Action<Exception> onError)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(laneCount, 1);
        _lanes = new Lane[laneCount];
        for (var i = 0; i < laneCount; i++)
        {
            _lanes[i] = new Lane(onError);
        }
    }

    public int Count => _lanes.Length;

    /// <summary>Lanes for this machine: one per processor, at most 8; null (write on the reader) on a single processor.</summary>
    public static ConnectionLanes? ForThisMachine(Action<Exception> onError) =>
        Environment.ProcessorCount > 1 ? new ConnectionLanes(Math.Min(Environment.ProcessorCount, 8), onError) : null;

    public int IndexOf(string connectionId) => (int)((uint)StringComparer.Ordinal.GetHashCode(connectionId) % (uint)_lanes.Length);

    public Lane this[int index] => _lanes[index];

    /// <summary>Runs <paramref name="write"/> now when the connection's lane is idle, else queues it behind the lane's work.</summary>
    public void RunInOrder(string connectionId, Action write)
    {
        var lane = _lanes[IndexOf(connectionId)];
        if (lane.IsIdle)
        {
            write();
        }
        else
        {
            lane.Post(write);
        }
    }

    /// <summary>A serial queue of writes that runs on the thread pool while it has work.</summary>
    internal sealed class Lane(Action<Exception> onError) : IThreadPoolWorkItem
    {
        // Items run per thread-pool turn before the lane requeues itself, so a busy lane shares the pool.
        private const int MaxItemsPerTurn = 64;

        private readonly object _lock = new();
        private readonly Queue<Action> _work = new();
        private bool _scheduled;

        // Items posted and not yet finished; zero means every earlier write on this lane has been issued.
        private int _outstanding;

        public bool IsIdle => Volatile.Read(ref _outstanding) == 0;

        public void Post(Action work)
        {
            Interlocked.Increment(ref _outstanding);
            lock (_lock)
            {
                _work.Enqueue(work);
                if (_scheduled)
                {
                    return;
                }

                _scheduled = true;
            }

            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }

        void IThreadPoolWorkItem.Execute()
        {
            for (var i = 0; i < MaxItemsPerTurn; i++)
            {
                Action work;
                lock (_lock)
                {
                    if (!_work.TryDequeue(out work!))
                    {
                        _scheduled = false;
                        return;
                    }
                }

                try
                {
                    work();
                }
                catch (Exception ex)
                {
                    // Never let one write stop the lane (its connections would hear nothing more) or the process.
                    onError(ex);
                }
                finally
                {
                    Interlocked.Decrement(ref _outstanding);
                }
            }

            // More remains: stay scheduled and continue in a later turn.
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }
}

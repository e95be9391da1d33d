namespace SqliteBackplane.Internal.Flow;

/// <summary>
/// Which local connections hold senders back. A connection with <see cref="Threshold"/> writes pending is pressured
/// until it drains to half of that; a pressured connection that completes no write for <see cref="StallAfter"/> counts
/// as stalled and stops holding anyone back (its own bound, <see cref="SqliteBackplaneOptions.MaxPendingMessagesPerConnection"/>,
/// drops its messages instead), so a dead client delays no one for long. <see cref="SendAdmission"/> owns it and shares
/// its lock with it; <paramref name="changed"/> runs when a connection begins or stops holding senders back, and
/// <paramref name="relieved"/> after a connection stopped being pressured.
/// </summary>
internal sealed class ConnectionPressure(object sync, int threshold, Action changed, Action relieved)
{
    /// <summary>
    /// A pressured connection that completes no write for this long is treated as stalled. Long enough that a client
    /// paused by its garbage collector still paces senders; short enough that a dead one holds them back only briefly.
    /// Time in which this process itself did not run (its timer fired late) does not count, so a starved machine does
    /// not make every client look stalled.
    /// </summary>
    internal static readonly TimeSpan StallAfter = TimeSpan.FromSeconds(1);

    private readonly HashSet<PacedConnection> _pressured = [];
    private int _pressuredCount;
    private int _stalledCount;
    private long _stalls;

    /// <summary>Pending writes at which a local connection starts to hold senders back.</summary>
    public int Threshold { get; } = threshold;

    /// <summary>Whether a connection that is reading (not stalled) holds senders back now.</summary>
    public bool Any => Volatile.Read(ref _pressuredCount) > Volatile.Read(ref _stalledCount);

    /// <summary>How many times a pressured connection was found stalled and stopped pacing senders.</summary>
    public long Stalls => Interlocked.Read(ref _stalls);

    /// <summary>
    /// A message was handed to <paramref name="connection"/> and its write has not completed. A replayed message
    /// (<paramref name="replay"/>) counts as pending but not toward <see cref="Threshold"/>.
    /// </summary>
    public void WriteStarted(PacedConnection connection, bool replay)
    {
        if (replay)
        {
            Interlocked.Increment(ref connection.ReplayPending);
            Interlocked.Increment(ref connection.PendingWrites);
            return;
        }

        if (Interlocked.Increment(ref connection.PendingWrites) - Volatile.Read(ref connection.ReplayPending) >= Threshold
            && Interlocked.CompareExchange(ref connection.Pressured, 1, 0) == 0)
        {
            Volatile.Write(ref connection.SilentMilliseconds, 0);
            lock (sync)
            {
                _pressured.Add(connection);
            }

            Interlocked.Increment(ref _pressuredCount);
            changed();
        }
    }

    /// <summary>A write to <paramref name="connection"/> counted by <see cref="WriteStarted"/> completed (or failed).</summary>
    public void WriteCompleted(PacedConnection connection, bool replay)
    {
        if (replay)
        {
            Interlocked.Decrement(ref connection.ReplayPending);
        }

        var pending = Interlocked.Decrement(ref connection.PendingWrites) - Volatile.Read(ref connection.ReplayPending);
        if (Volatile.Read(ref connection.Pressured) == 0)
        {
            return;
        }

        Volatile.Write(ref connection.SilentMilliseconds, 0);
        if (Interlocked.CompareExchange(ref connection.Stalled, 0, 1) == 1)
        {
            // Reading again: it paces senders again.
            Interlocked.Decrement(ref _stalledCount);
            changed();
        }

        if (pending <= Threshold / 2)
        {
            Relieve(connection);
        }
    }

    /// <summary>The connection went away: it paces no one any more.</summary>
    public void Forget(PacedConnection connection) => Relieve(connection);

    /// <summary>
    /// Counts <paramref name="creditMs"/> of silence for every pressured connection and marks those silent for
    /// <see cref="StallAfter"/> as stalled. The caller holds the shared lock.
    /// </summary>
    public void CreditSilenceLocked(long creditMs)
    {
        if (!Any)
        {
            return;
        }

        foreach (var connection in _pressured)
        {
            if (Interlocked.Add(ref connection.SilentMilliseconds, creditMs) >= StallAfter.TotalMilliseconds &&
                Interlocked.CompareExchange(ref connection.Stalled, 1, 0) == 0)
            {
                Interlocked.Increment(ref _stalledCount);
                Interlocked.Increment(ref _stalls);
            }
        }
    }

    private void Relieve(PacedConnection connection)
    {
        if (Interlocked.CompareExchange(ref connection.Pressured, 0, 1) != 1)
        {
            return;
        }

        lock (sync)
        {
            _pressured.Remove(connection);
            if (Interlocked.Exchange(ref connection.Stalled, 0) == 1)
            {
                Interlocked.Decrement(ref _stalledCount);
            }
        }

        Interlocked.Decrement(ref _pressuredCount);
        changed();
        relieved();
    }
}

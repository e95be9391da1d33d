using System.Diagnostics;
using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane.Internal.Flow;

/// <summary>
/// Paces accepted sends by delivery (backpressure). A send returns once it is queued, so without a bound a burst
/// would queue without limit and the log would run seconds ahead of the readers. Sends wait while any of these is at
/// its bound: sends queued in this process but not committed (<see cref="SqliteBackplaneOptions.MaxQueuedMessages"/>),
/// rows this process's reader has not dispatched yet (<see cref="SqliteBackplaneOptions.MaxReaderLag"/>), or a local
/// connection that is reading but has <see cref="PacingThreshold"/> messages waiting for it. Once paused, sends
/// resume when every measure is at half its bound, so waiters do not wake for every row. A connection that completes
/// no write for <see cref="StallAfter"/> counts as stalled and stops holding senders back (its own bound,
/// <see cref="SqliteBackplaneOptions.MaxPendingMessagesPerConnection"/>, drops its messages instead), so a dead client
/// delays no one for long.
/// </summary>
internal sealed class SendAdmission : IDisposable
{
    /// <summary>
    /// A pressured connection that completes no write for this long is treated as stalled. Long enough that a client
    /// paused by its garbage collector still paces senders; short enough that a dead one holds them back only briefly.
    /// Time in which this process itself did not run (its timer fired late) does not count, so a starved machine does
    /// not make every client look stalled.
    /// </summary>
    internal static readonly TimeSpan StallAfter = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan RecheckInterval = TimeSpan.FromMilliseconds(10);

    // At most this much time counts towards a stall per recheck: a late recheck means this process was not running.
    private const long MaxSilenceCreditMs = 50;

    private readonly int _maxQueued;
    private readonly long _maxLag;
    private readonly Func<long> _readerLag;
    private readonly object _lock = new();
    private readonly HashSet<PacedConnection> _pressured = [];
    private readonly Timer _recheck;
    private TaskCompletionSource _resumed = NewSignal();
    private volatile bool _paused;
    private bool _disposed;
    private int _queued;
    private int _pressuredCount;
    private int _stalledCount;
    private long _lastRecheckTicks;
    private long _failedAfterAccept;
    private volatile Tuple<Exception, DateTimeOffset>? _lastFailureBox;
    private readonly BackplaneMetrics _metrics;

    public SendAdmission(int maxQueued, int maxLag, int maxPendingPerConnection, Func<long> readerLag, BackplaneMetrics metrics)
    {
        _metrics = metrics;
        _maxQueued = maxQueued;
        _maxLag = maxLag;
        _readerLag = readerLag;
        PacingThreshold = Math.Max(2, maxPendingPerConnection / 20);
        _recheck = new Timer(static state => ((SendAdmission)state!).Recheck(), this, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>Pending writes at which a local connection starts to hold senders back: a twentieth of the drop bound.</summary>
    public int PacingThreshold { get; }

    /// <summary>Sends accepted in this process and not yet committed or failed.</summary>
    public int Queued => Volatile.Read(ref _queued);

    /// <summary>Sends that had to wait before they were queued, since the node started.</summary>
    public long Waits => Interlocked.Read(ref _waits);

    private long _waits;

    /// <summary>How many times a pressured connection was found stalled and stopped pacing senders.</summary>
    public long Stalls => Interlocked.Read(ref _stalls);

    private long _stalls;

    /// <summary>Whether sends are waiting now.</summary>
    public bool IsPaused => _paused;

    /// <summary>True when a send may be queued at once: nothing is paused and no measure is at its bound.</summary>
    public bool CanEnterNow =>
        !_paused && Volatile.Read(ref _queued) < _maxQueued && !ConnectionsPressured && _readerLag() < _maxLag;

    private bool ConnectionsPressured => Volatile.Read(ref _pressuredCount) > Volatile.Read(ref _stalledCount);

    /// <summary>Counts a send that was queued; <see cref="Left"/> must follow once it commits or fails.</summary>
    public void Entered() => Interlocked.Increment(ref _queued);

    /// <summary>
    /// A queued send committed, or failed after its caller had returned: that failure is counted here (and in the
    /// metrics) and reported by the health check; the writer has logged it. Waiters are let in by
    /// <see cref="Progress"/>, called once per batch.
    /// </summary>
    public void Left(Exception? failure)
    {
        Interlocked.Decrement(ref _queued);
        if (failure is not null)
        {
            Interlocked.Increment(ref _failedAfterAccept);
            _lastFailureBox = Tuple.Create(failure, DateTimeOffset.UtcNow);
            _metrics.FailedAfterAccept();
        }
    }

    /// <summary>Sends that failed after their callers had returned, since the node started.</summary>
    public long FailedAfterAccept => Interlocked.Read(ref _failedAfterAccept);

    /// <summary>The last failure of an accepted send, and when it happened; null if none.</summary>
    public (Exception Error, DateTimeOffset At)? LastFailure => _lastFailureBox is { } box ? (box.Item1, box.Item2) : null;

    /// <summary>
    /// Waits until sends may be queued again. Returns false when <paramref name="timeout"/> passed first (the caller
    /// fails the send): the wait is bounded, so a reader that can never catch up cannot hold senders forever.
    /// </summary>
    public async Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _waits);
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            Task resumed;
            lock (_lock)
            {
                if (_disposed)
                {
                    // Stopping: the caller's enqueue reports that.
                    return true;
                }

                if (!_paused)
                {
                    if (CanEnterNow)
                    {
                        return true;
                    }

                    _paused = true;
                    _lastRecheckTicks = Environment.TickCount64;
                    _recheck.Change(RecheckInterval, RecheckInterval);
                }

                resumed = _resumed.Task;
            }

            var remaining = timeout - Stopwatch.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero)
            {
                return false;
            }

            try
            {
                await resumed.WaitAsync(remaining, cancellationToken);
            }
            catch (TimeoutException)
            {
                return false;
            }
        }
    }

    /// <summary>Something drained (a commit, a dispatched batch): wake waiters if every measure is low.</summary>
    public void Progress()
    {
        if (_paused)
        {
            Recheck();
        }
    }

    /// <summary>A message was handed to <paramref name="connection"/> and its write has not completed.</summary>
    public void WriteStarted(PacedConnection connection)
    {
        if (Interlocked.Increment(ref connection.PendingWrites) >= PacingThreshold && Interlocked.CompareExchange(ref connection.Pressured, 1, 0) == 0)
        {
            Volatile.Write(ref connection.SilentMilliseconds, 0);
            lock (_lock)
            {
                _pressured.Add(connection);
            }

            Interlocked.Increment(ref _pressuredCount);
        }
    }

    /// <summary>A write to <paramref name="connection"/> counted by <see cref="WriteStarted"/> completed (or failed).</summary>
    public void WriteCompleted(PacedConnection connection)
    {
        var pending = Interlocked.Decrement(ref connection.PendingWrites);
        if (Volatile.Read(ref connection.Pressured) == 0)
        {
            return;
        }

        Volatile.Write(ref connection.SilentMilliseconds, 0);
        if (Interlocked.CompareExchange(ref connection.Stalled, 0, 1) == 1)
        {
            // Reading again: it paces senders again.
            Interlocked.Decrement(ref _stalledCount);
        }

        if (pending <= PacingThreshold / 2)
        {
            Relieve(connection);
        }
    }

    /// <summary>The connection went away: it paces no one any more.</summary>
    public void Forget(PacedConnection connection) => Relieve(connection);

    private void Relieve(PacedConnection connection)
    {
        if (Interlocked.CompareExchange(ref connection.Pressured, 0, 1) != 1)
        {
            return;
        }

        lock (_lock)
        {
            _pressured.Remove(connection);
            if (Interlocked.Exchange(ref connection.Stalled, 0) == 1)
            {
                Interlocked.Decrement(ref _stalledCount);
            }
        }

        Interlocked.Decrement(ref _pressuredCount);
        Progress();
    }

    private void Recheck()
    {
        TaskCompletionSource? toComplete = null;
        lock (_lock)
        {
            if (!_paused || _disposed)
            {
                return;
            }

            var now = Environment.TickCount64;
            var credit = Math.Clamp(now - _lastRecheckTicks, 0, MaxSilenceCreditMs);
            _lastRecheckTicks = now;
            if (ConnectionsPressured)
            {
                foreach (var connection in _pressured)
                {
                    if (Interlocked.Add(ref connection.SilentMilliseconds, credit) >= StallAfter.TotalMilliseconds &&
                        Interlocked.CompareExchange(ref connection.Stalled, 1, 0) == 0)
                    {
                        Interlocked.Increment(ref _stalledCount);
                        Interlocked.Increment(ref _stalls);
                    }
                }
            }

            if (Volatile.Read(ref _queued) <= _maxQueued / 2 && _readerLag() <= _maxLag / 2 && !ConnectionsPressured)
            {
                _paused = false;
                _recheck.Change(Timeout.Infinite, Timeout.Infinite);
                toComplete = _resumed;
                _resumed = NewSignal();
            }
        }

        toComplete?.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _recheck.Dispose();
            _paused = false;
            _resumed.TrySetResult();
        }
    }
}

/// <summary>A local connection's share of the pacing state: writes waiting for it, and whether it holds senders back.</summary>
internal class PacedConnection
{
    /// <summary>Messages handed to the connection whose write has not completed (it is not reading fast enough).</summary>
    public int PendingWrites;

    /// <summary>1 while the connection has reached the pacing threshold and not drained to half of it.</summary>
    public int Pressured;

    /// <summary>1 while a pressured connection has completed no write for <see cref="SendAdmission.StallAfter"/>.</summary>
    public int Stalled;

    /// <summary>Time this process ran while the pressured connection completed no write (milliseconds).</summary>
    public long SilentMilliseconds;
}

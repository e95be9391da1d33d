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
/// <para>
/// Across processes (delivery holds): while a local connection holds senders back, this node publishes the log position
/// its reader had dispatched when that began (<see cref="LocalHold"/>, through <see cref="LocalHoldChanged"/>), and
/// every node's senders also wait while the log's end (plus their queued sends) is <see cref="MaxRemoteLead"/> or more
/// past the lowest hold another live node published (<see cref="SetRemoteHold"/>). So a flood from one process slows
/// down for a reading client on another instead of passing its drop bound. A hold ends when the connection drains or
/// counts as stalled, and a dead node's hold is ignored once its row goes stale, so no one waits on it for long.
/// </para>
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

    /// <summary>While holding, the hold is published again this often, so other nodes see a live row (not a stale one).</summary>
    internal static readonly TimeSpan HoldRefreshInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>No hold: <see cref="LocalHold"/> and the remote hold when no connection is behind.</summary>
    private const long NoHold = long.MaxValue;

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
    private readonly Func<long> _dispatchedPosition;
    private bool _recheckRunning;
    private bool _holding;
    private long _localHold = NoHold;
    private long _holdPublishedTicks;
    private long _remoteHold = NoHold;
    private long _logEnd;

    // dispatchedPosition: the log position this node's reader has dispatched (what a hold publishes).
    public SendAdmission(int maxQueued, int maxLag, int maxPendingPerConnection, Func<long> readerLag, BackplaneMetrics metrics, Func<long>? dispatchedPosition = null)
    {
        _metrics = metrics;
        _maxQueued = maxQueued;
        _maxLag = maxLag;
        _readerLag = readerLag;
        _dispatchedPosition = dispatchedPosition ?? (static () => 0);
        PacingThreshold = Math.Max(2, maxPendingPerConnection / 20);
        MaxRemoteLead = Math.Max(PacingThreshold, maxPendingPerConnection / 4);
        _recheck = new Timer(static state => ((SendAdmission)state!).Recheck(), this, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>Pending writes at which a local connection starts to hold senders back: a twentieth of the drop bound.</summary>
    public int PacingThreshold { get; }

    /// <summary>
    /// How far the log may run past the lowest hold of another live node: a quarter of the drop bound, so what is queued
    /// or in flight when senders notice the hold still fits under it.
    /// </summary>
    public int MaxRemoteLead { get; }

    /// <summary>
    /// Called (on the thread that changed it) when <see cref="LocalHold"/> begins, ends, or is due to be published again;
    /// null leaves holds off (the file has no column for them). Set before the node serves connections.
    /// </summary>
    public Action? LocalHoldChanged { get; set; }

    /// <summary>Called every recheck while sends wait on a remote hold, to read the holds again (one read in flight at a time).</summary>
    public Action? RemoteHoldStale { get; set; }

    /// <summary>The log position this node's reader had dispatched when a local connection fell behind; null while none is.</summary>
    public long? LocalHold => Volatile.Read(ref _localHold) is var hold and not NoHold ? hold : null;

    /// <summary>The lowest hold another live node published, as last read; null when none holds.</summary>
    public long? RemoteHold => Volatile.Read(ref _remoteHold) is var hold and not NoHold ? hold : null;

    /// <summary>Whether sends must wait because the log ran <see cref="MaxRemoteLead"/> past another node's hold.</summary>
    public bool RemoteLeadExceeded
    {
        get
        {
            var hold = Volatile.Read(ref _remoteHold);
            return hold != NoHold && Volatile.Read(ref _logEnd) + Volatile.Read(ref _queued) - hold >= MaxRemoteLead;
        }
    }

    /// <summary>Sends that waited on another node's hold, since the node started.</summary>
    public long RemoteWaits => Interlocked.Read(ref _remoteWaits);

    private long _remoteWaits;

    /// <summary>The log's end as this node's writer last saw it (the id it appended last). Writer thread.</summary>
    public void NoteLogEnd(long lastId)
    {
        if (lastId > Volatile.Read(ref _logEnd))
        {
            Volatile.Write(ref _logEnd, lastId);
        }
    }

    /// <summary>The lowest hold of the other live nodes, just read (null: none); lets waiting sends in when it allows.</summary>
    public void SetRemoteHold(long? hold)
    {
        Volatile.Write(ref _remoteHold, hold ?? NoHold);
        Progress();
    }

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
        !_paused && Volatile.Read(ref _queued) < _maxQueued && !ConnectionsPressured && _readerLag() < _maxLag && !RemoteLeadExceeded;

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
        if (RemoteLeadExceeded)
        {
            Interlocked.Increment(ref _remoteWaits);
        }

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
                    StartRecheck();
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
            UpdateLocalHold();
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
            UpdateLocalHold();
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
        UpdateLocalHold();
        Progress();
    }

    // A local connection began or stopped holding senders back: begin or end this node's hold (and publish it).
    private void UpdateLocalHold()
    {
        Action? changed;
        lock (_lock)
        {
            changed = LocalHoldChanged;
            if (changed is null || _disposed || ConnectionsPressured == _holding)
            {
                return;
            }

            SetHoldingLocked(!_holding);
        }

        changed();
    }

    private void SetHoldingLocked(bool holding)
    {
        _holding = holding;
        Volatile.Write(ref _localHold, holding ? _dispatchedPosition() : NoHold);
        _holdPublishedTicks = Environment.TickCount64;
        if (holding)
        {
            // Stall detection runs while holding, even when this node has no waiting senders of its own.
            StartRecheck();
        }
        else if (!_paused)
        {
            StopRecheck();
        }
    }

    private void StartRecheck()
    {
        if (!_recheckRunning)
        {
            _recheckRunning = true;
            _lastRecheckTicks = Environment.TickCount64;
            _recheck.Change(RecheckInterval, RecheckInterval);
        }
    }

    private void StopRecheck()
    {
        _recheckRunning = false;
        _recheck.Change(Timeout.Infinite, Timeout.Infinite);
    }

    private void Recheck()
    {
        TaskCompletionSource? toComplete = null;
        Action? holdChanged = null;
        var readRemote = false;
        lock (_lock)
        {
            if (!(_paused || _holding) || _disposed)
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

            if (_holding)
            {
                if (!ConnectionsPressured)
                {
                    // Drained or stalled: other nodes' senders may go on.
                    SetHoldingLocked(false);
                    holdChanged = LocalHoldChanged;
                }
                else if (now - _holdPublishedTicks >= HoldRefreshInterval.TotalMilliseconds)
                {
                    _holdPublishedTicks = now;
                    holdChanged = LocalHoldChanged;
                }
            }

            if (_paused)
            {
                var remoteLeadExceeded = RemoteLeadExceeded;
                readRemote = remoteLeadExceeded;
                if (Volatile.Read(ref _queued) <= _maxQueued / 2 && _readerLag() <= _maxLag / 2 && !ConnectionsPressured && !remoteLeadExceeded)
                {
                    _paused = false;
                    toComplete = _resumed;
                    _resumed = NewSignal();
                    if (!_holding)
                    {
                        StopRecheck();
                    }
                }
            }
        }

        toComplete?.TrySetResult();
        holdChanged?.Invoke();
        if (readRemote)
        {
            RemoteHoldStale?.Invoke();
        }
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

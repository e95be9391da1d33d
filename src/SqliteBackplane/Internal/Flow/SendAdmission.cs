using System.Diagnostics;
using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane.Internal.Flow;

/// <summary>
/// Paces accepted sends by delivery (backpressure). A send returns once it is queued, so without a bound a burst
/// would queue without limit and the log would run seconds ahead of the readers. Sends wait while any of these is at
/// its bound: sends queued in this process but not committed (<see cref="SqliteBackplaneOptions.MaxQueuedMessages"/>),
/// rows this process's reader has not dispatched yet (<see cref="SqliteBackplaneOptions.MaxReaderLag"/>), or a local
/// connection that is reading but has <see cref="ConnectionPressure.Threshold"/> messages waiting for it. Once paused, sends
/// resume when every measure is at half its bound, so waiters do not wake for every row. Which connections hold
/// senders back, and when one counts as stalled instead, is <see cref="Connections"/>' job.
/// <para>
/// Across processes (delivery holds): while a local connection holds senders back, this node publishes the log position
/// its reader had dispatched when that began (<see cref="LocalHold"/>, through <see cref="LocalHoldChanged"/>), and
/// every node's senders also wait while the log's end (plus their queued sends) is <see cref="RemoteDeliveryHold.MaxLead"/>
/// or more past the lowest hold another live node published (<see cref="Remote"/>, set by <see cref="SetRemoteHold"/>). So a flood from one process slows
/// down for a reading client on another instead of passing its drop bound. A hold ends when the connection drains or
/// counts as stalled, and a dead node's hold is ignored once its row goes stale, so no one waits on it for long.
/// </para>
/// </summary>
internal sealed class SendAdmission : IDisposable
{
    private static readonly TimeSpan RecheckInterval = TimeSpan.FromMilliseconds(10);

    /// <summary>While holding, the hold is published again this often, so other nodes see a live row (not a stale one).</summary>
    internal static readonly TimeSpan HoldRefreshInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>No hold: <see cref="LocalHold"/> when no local connection is behind.</summary>
    private const long NoHold = long.MaxValue;

    // At most this much time counts towards a stall per recheck: a late recheck means this process was not running.
    private const long MaxSilenceCreditMs = 50;

    private readonly int _maxQueued;
    private readonly long _maxLag;
    private readonly Func<long> _readerLag;
    private readonly object _lock = new();
    private readonly Timer _recheck;
    private TaskCompletionSource _resumed = NewSignal();
    private volatile bool _paused;
    private bool _disposed;
    private int _queued;
    private long _lastRecheckTicks;
    private readonly Func<long> _dispatchedPosition;
    private bool _recheckRunning;
    private bool _holding;
    private long _localHold = NoHold;
    private long _holdPublishedTicks;

    // dispatchedPosition: the log position this node's reader has dispatched (what a hold publishes).
    public SendAdmission(int maxQueued, int maxLag, int maxPendingPerConnection, Func<long> readerLag, BackplaneMetrics metrics, Func<long>? dispatchedPosition = null)
    {
        Failures = new AcceptedSendFailures(metrics);
        _maxQueued = maxQueued;
        _maxLag = maxLag;
        _readerLag = readerLag;
        _dispatchedPosition = dispatchedPosition ?? (static () => 0);
        Connections = new ConnectionPressure(_lock, Math.Max(2, maxPendingPerConnection / 20), UpdateLocalHold, Progress);
        Remote = new RemoteDeliveryHold(Math.Max(Connections.Threshold, maxPendingPerConnection / 4), () => Volatile.Read(ref _queued));
        _recheck = new Timer(static state => ((SendAdmission)state!).Recheck(), this, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>
    /// The local connections that hold senders back; one starts to at a twentieth of the drop bound
    /// (<see cref="ConnectionPressure.Threshold"/>).
    /// </summary>
    public ConnectionPressure Connections { get; }

    /// <summary>The other nodes' delivery holds, and how far this node's log end runs past the lowest of them.</summary>
    public RemoteDeliveryHold Remote { get; }

    /// <summary>Sends that failed after their callers had returned.</summary>
    public AcceptedSendFailures Failures { get; }

    /// <summary>
    /// Called (on the thread that changed it) when <see cref="LocalHold"/> begins, ends, or is due to be published again;
    /// null leaves holds off (the file has no column for them). Set before the node serves connections.
    /// </summary>
    public Action? LocalHoldChanged { get; set; }

    /// <summary>The log position this node's reader had dispatched when a local connection fell behind; null while none is.</summary>
    public long? LocalHold => Volatile.Read(ref _localHold) is var hold and not NoHold ? hold : null;

    /// <summary>The lowest hold of the other live nodes, just read (null: none); lets waiting sends in when it allows.</summary>
    public void SetRemoteHold(long? hold)
    {
        Remote.Set(hold);
        Progress();
    }

    /// <summary>Sends accepted in this process and not yet committed or failed.</summary>
    public int Queued => Volatile.Read(ref _queued);

    /// <summary>Sends that had to wait before they were queued, since the node started.</summary>
    public long Waits => Interlocked.Read(ref _waits);

    private long _waits;

    /// <summary>Whether sends are waiting now.</summary>
    public bool IsPaused => _paused;

    /// <summary>True when a send may be queued at once: nothing is paused and no measure is at its bound.</summary>
    public bool CanEnterNow =>
        !_paused && Volatile.Read(ref _queued) < _maxQueued && !ConnectionsPressured && _readerLag() < _maxLag && !Remote.LeadExceeded;

    private bool ConnectionsPressured => Connections.Any;

    /// <summary>Counts a send that was queued; <see cref="Left"/> must follow once it commits or fails.</summary>
    public void Entered() => Interlocked.Increment(ref _queued);

    /// <summary>
    /// A queued send committed, or failed after its caller had returned: that failure is counted in
    /// <see cref="Failures"/>. Waiters are let in by <see cref="Progress"/>, called once per batch.
    /// </summary>
    public void Left(Exception? failure)
    {
        Interlocked.Decrement(ref _queued);
        if (failure is not null)
        {
            Failures.Record(failure);
        }
    }

    /// <summary>
    /// Waits until sends may be queued again. Returns false when <paramref name="timeout"/> passed first (the caller
    /// fails the send): the wait is bounded, so a reader that can never catch up cannot hold senders forever.
    /// </summary>
    public async Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _waits);
        Remote.CountWaitIfHeld();

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
            Connections.CreditSilenceLocked(credit);

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
                var remoteLeadExceeded = Remote.LeadExceeded;
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
            Remote.Stale?.Invoke();
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

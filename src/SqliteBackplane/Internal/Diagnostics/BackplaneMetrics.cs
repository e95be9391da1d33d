using System.Diagnostics.Metrics;

namespace SqliteBackplane.Internal.Diagnostics;

/// <summary>
/// The backplane's instruments, on the meter <see cref="SqliteBackplaneOptions.MeterName"/> (documented in
/// docs/observability.md). One instance per node; recording is a no-op when nothing listens.
/// </summary>
internal sealed class BackplaneMetrics : IDisposable
{
    private readonly Meter _meter;
    private readonly Counter<long> _published;
    private readonly Counter<long> _delivered;
    private readonly Counter<long> _expiredSkipped;
    private readonly Counter<long> _undecodableSkipped;
    private readonly Counter<long> _writeFailures;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _slowResumeClosed;
    private readonly Counter<long> _deliveryFailures;
    private readonly Counter<long> _droppedOldest;
    private readonly Histogram<int> _batchSize;
    private readonly Histogram<double> _commitDuration;
    private readonly Histogram<double> _deliveryLag;
    private readonly Counter<long> _failedAfterAccept;
    private readonly Counter<long> _resumeAttempts;
    private readonly Histogram<double> _sendWait;
    private readonly Counter<long> _walCheckpoints;
    private long _walFileBytes;
    private long _walLogBytes;
    private readonly Histogram<double> _sendRemoteWait;

    public BackplaneMetrics(IMeterFactory? meterFactory, string nodeId, Func<long> readerBacklog, Func<int> liveNodes, Func<int> connections)
    {
        var options = new MeterOptions(SqliteBackplaneOptions.MeterName)
        {
            Version = typeof(BackplaneMetrics).Assembly.GetName().Version?.ToString(),
            Tags = [new("sqlitebackplane.node.id", nodeId)],
        };
        _meter = meterFactory?.Create(options) ?? new Meter(options);

        _published = _meter.CreateCounter<long>("sqlitebackplane.messages.published", "{message}",
            "Messages this node appended to the log (sends to all, connections, groups or users).");
        _delivered = _meter.CreateCounter<long>("sqlitebackplane.messages.delivered", "{delivery}",
            "Messages this node's reader handed to local connections.");
        _expiredSkipped = _meter.CreateCounter<long>("sqlitebackplane.rows.expired", "{row}",
            "Rows the reader skipped because they expired before it read them.");
        _undecodableSkipped = _meter.CreateCounter<long>("sqlitebackplane.rows.undecodable", "{row}",
            "Rows the reader skipped because their envelope could not be decoded.");
        _dropped = _meter.CreateCounter<long>("sqlitebackplane.messages.dropped", "{message}",
            "Messages not handed to a local connection because too many were already waiting for it (a slow client).");
        _slowResumeClosed = _meter.CreateCounter<long>("sqlitebackplane.resume.slow_closed", "{connection}",
            "Resume connections closed because too many messages were waiting for them; their clients resume from the log instead of losing messages.");
        _deliveryFailures = _meter.CreateCounter<long>("sqlitebackplane.delivery.failures", "{delivery}",
            "Writes of a row to a local connection that failed (the connection's write threw); the row still reached the other connections.");
        _droppedOldest = _meter.CreateCounter<long>("sqlitebackplane.rows.dropped_oldest", "{row}",
            "Rows this node deleted from the head of the log to keep it under its capacity (LogFullMode.DropOldest).");
        _writeFailures = _meter.CreateCounter<long>("sqlitebackplane.write.failures", "{operation}",
            "Write operations that failed: an awaiting caller received the exception; a queued send is also counted in sqlitebackplane.messages.failed.");
        _batchSize = _meter.CreateHistogram<int>("sqlitebackplane.commit.batch_size", "{operation}",
            "Write operations committed together in one transaction.");
        _commitDuration = _meter.CreateHistogram<double>("sqlitebackplane.commit.duration", "s",
            "Time from taking the write lock to the end of COMMIT.");
        _deliveryLag = _meter.CreateHistogram<double>("sqlitebackplane.delivery.lag", "s",
            "Time from a row's commit to its dispatch by this node's reader.");
        _failedAfterAccept = _meter.CreateCounter<long>("sqlitebackplane.messages.failed", "{message}",
            "Messages whose send had returned (it was queued) and that then could not be written to the file; each is also logged.");
        _resumeAttempts = _meter.CreateCounter<long>("sqlitebackplane.resume.attempts", "{attempt}",
            "Reconnects that asked to resume an old connection, by outcome (resumed, gap) and, for a gap, its reason.");
        _sendWait = _meter.CreateHistogram<double>("sqlitebackplane.send.wait", "s",
            "Time a send waited before it was queued, because the queue, the reader or a local connection was at its bound (backpressure).");
        _sendRemoteWait = _meter.CreateHistogram<double>("sqlitebackplane.send.remote_wait", "s",
            "Time a send waited before it was queued because another node's reading connections were behind (its delivery hold); also counted in sqlitebackplane.send.wait.");
        _meter.CreateObservableGauge("sqlitebackplane.reader.backlog", readerBacklog, "{row}",
            "Rows known to be in the log that this node's reader has not dispatched yet.");
        _meter.CreateObservableGauge("sqlitebackplane.nodes.live", liveNodes, "{node}",
            "Nodes registered on the file at this node's last heartbeat, this one included.");
        _meter.CreateObservableGauge("sqlitebackplane.connections", connections, "{connection}",
            "Connections held by this node, over all hubs.");
        _walCheckpoints = _meter.CreateCounter<long>("sqlitebackplane.wal.checkpoints", "{checkpoint}",
            "Passive WAL checkpoints this node ran, by outcome (complete: the whole log copied back; partial: a reader or writer kept some; busy: another checkpoint was running) and whether the pass held the write lock.");
        _meter.CreateObservableGauge("sqlitebackplane.wal.size", () => Volatile.Read(ref _walFileBytes), "By",
            "Size of the -wal file at this node's last check (each heartbeat); it stays under MaxWalSize when checkpoints keep up.");
        _meter.CreateObservableGauge("sqlitebackplane.wal.log_size", () => Volatile.Read(ref _walLogBytes), "By",
            "Bytes of the WAL in use (log frames x page size) at this node's last checkpoint; drops when the log starts over.");
    }

    public void Published(int count)
    {
        if (count > 0)
        {
            _published.Add(count);
        }
    }

    public void Delivered(int count)
    {
        if (count > 0)
        {
            _delivered.Add(count);
        }
    }

    public void ExpiredSkipped() => _expiredSkipped.Add(1);

    public void Dropped() => _dropped.Add(1);

    public void SlowResumeConnectionClosed() => _slowResumeClosed.Add(1);

    public void DeliveryFailed() => _deliveryFailures.Add(1);

    public void DroppedOldest(int rows) => _droppedOldest.Add(rows);

    public void UndecodableSkipped() => _undecodableSkipped.Add(1);

    public void FailedAfterAccept() => _failedAfterAccept.Add(1);

    /// <summary>One resume attempt; <paramref name="gapReason"/> is null when it resumed.</summary>
    public void ResumeAttempt(string? gapReason)
    {
        if (gapReason is null)
        {
            _resumeAttempts.Add(1, new KeyValuePair<string, object?>("outcome", "resumed"));
        }
        else
        {
            _resumeAttempts.Add(1, new KeyValuePair<string, object?>("outcome", "gap"), new KeyValuePair<string, object?>("reason", gapReason));
        }
    }

    public void SendWaited(TimeSpan waited) => _sendWait.Record(waited.TotalSeconds);

    public void SendWaitedOnRemote(TimeSpan waited) => _sendRemoteWait.Record(waited.TotalSeconds);

    public void WriteFailed(int operations) => _writeFailures.Add(operations);

    public void Committed(int operations, TimeSpan duration)
    {
        _batchSize.Record(operations);
        _commitDuration.Record(duration.TotalSeconds);
    }

    public bool DeliveryLagEnabled => _deliveryLag.Enabled;

    public void DeliveryLag(double seconds) => _deliveryLag.Record(Math.Max(0, seconds));

    /// <summary>One checkpoint pass: its outcome (complete, partial, busy) and whether it held the write lock.</summary>
    public void WalCheckpointed(string outcome, bool writeLocked, long logBytes)
    {
        Volatile.Write(ref _walLogBytes, logBytes);
        _walCheckpoints.Add(1, new KeyValuePair<string, object?>("outcome", outcome), new KeyValuePair<string, object?>("write_locked", writeLocked));
    }

    /// <summary>The -wal file's size at the last check.</summary>
    public void WalFileSize(long bytes) => Volatile.Write(ref _walFileBytes, bytes);

    public void Dispose() => _meter.Dispose();
}

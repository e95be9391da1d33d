using Microsoft.Extensions.Logging;

namespace SqliteBackplane.Internal.Diagnostics;

/// <summary>
/// Every logging event of the backplane (named apart from the message log, the messages table). Ids are stable: add new
/// events at the end, never renumber.
/// </summary>
internal static partial class BackplaneEvents
{
    [LoggerMessage(1, LogLevel.Information, "SQLite backplane node {NodeId} started on '{DatabasePath}' (table prefix '{TablePrefix}', wake-ups: {WakeMode}).", EventName = "NodeStarted")]
    public static partial void NodeStarted(ILogger logger, string nodeId, string databasePath, string tablePrefix, string wakeMode);

    // No longer logged: a failed start fails the host's start (which logs it) or reaches the caller. Kept so ids stay stable.
    [LoggerMessage(2, LogLevel.Error, "SQLite backplane could not start on '{DatabasePath}'.", EventName = "NodeStartFailed")]
    public static partial void NodeStartFailed(ILogger logger, string databasePath, Exception exception);

    [LoggerMessage(3, LogLevel.Information, "SQLite backplane node {NodeId} stopped and removed its {ConnectionCount} connections from the backplane.", EventName = "NodeStopped")]
    public static partial void NodeStopped(ILogger logger, string nodeId, int connectionCount);

    [LoggerMessage(4, LogLevel.Warning, "SQLite backplane node {NodeId} could not remove its rows while stopping ({Reason}); other nodes will reap them after the node timeout.", EventName = "NodeStopFailed")]
    public static partial void NodeStopFailed(ILogger logger, string nodeId, string reason);

    [LoggerMessage(5, LogLevel.Warning, "Node {DeadNodeId} sent no heartbeat for longer than {NodeTimeout}; removed it and its {ConnectionCount} connections.", EventName = "NodeReaped")]
    public static partial void NodeReaped(ILogger logger, string deadNodeId, int connectionCount, TimeSpan nodeTimeout);

    [LoggerMessage(6, LogLevel.Warning, "Node {NodeId} had been declared dead by another process (its heartbeat was late); re-registered its {ConnectionCount} connections.", EventName = "NodeRevived")]
    public static partial void NodeRevived(ILogger logger, string nodeId, int connectionCount);

    [LoggerMessage(7, LogLevel.Warning, "SQLite backplane heartbeat or maintenance write failed; retrying at the next heartbeat.", EventName = "HeartbeatFailed")]
    public static partial void HeartbeatFailed(ILogger logger, Exception exception);

    [LoggerMessage(8, LogLevel.Warning, "Cross-process wake-ups are unavailable ({Reason}); messages from other processes arrive within {SafetyPollInterval}.", EventName = "WakeupsUnavailable")]
    public static partial void WakeupsUnavailable(ILogger logger, string reason, TimeSpan safetyPollInterval);

    [LoggerMessage(9, LogLevel.Warning, "The SQLite native library is not e_sqlite3, so the backplane could not install its fine-grained busy handler; lock waits fall back to SQLite's and Microsoft.Data.Sqlite's coarser sleeps.", EventName = "BusyHandlerUnavailable")]
    public static partial void BusyHandlerUnavailable(ILogger logger);

    [LoggerMessage(10, LogLevel.Warning, "Skipped message row {RowId} that could not be decoded ({Problem}): {Detail} Further rows with this problem are skipped without logging.", EventName = "RowSkipped")]
    public static partial void RowSkipped(ILogger logger, long rowId, string problem, string detail);

    [LoggerMessage(11, LogLevel.Warning, "Skipped {Count} expired message rows: this process fell behind the log by more than MessageExpiry.", EventName = "ExpiredRowsSkipped")]
    public static partial void ExpiredRowsSkipped(ILogger logger, long count);

    [LoggerMessage(12, LogLevel.Error, "Dispatching message row {RowId} to local connections failed.", EventName = "DispatchFailed")]
    public static partial void DispatchFailed(ILogger logger, long rowId, Exception exception);

    [LoggerMessage(13, LogLevel.Error, "Reading the SQLite backplane log in '{DatabasePath}' failed; local connections keep being served and the reader retries.", EventName = "ReaderFailed")]
    public static partial void ReaderFailed(ILogger logger, string databasePath, Exception exception);

    [LoggerMessage(14, LogLevel.Information, "Reading the SQLite backplane log in '{DatabasePath}' works again.", EventName = "ReaderRecovered")]
    public static partial void ReaderRecovered(ILogger logger, string databasePath);

    [LoggerMessage(15, LogLevel.Error, "A SQLite backplane write of {OperationCount} operations to '{DatabasePath}' failed; the callers received the error.", EventName = "WriteFailed")]
    public static partial void WriteFailed(ILogger logger, int operationCount, string databasePath, Exception exception);

    [LoggerMessage(16, LogLevel.Warning, "A batch of {OperationCount} backplane writes failed; retrying each on its own.", EventName = "BatchRetriedIndividually")]
    public static partial void BatchRetriedIndividually(ILogger logger, int operationCount, Exception exception);

    [LoggerMessage(17, LogLevel.Warning, "Rolling back a failed backplane transaction failed.", EventName = "RollbackFailed")]
    public static partial void RollbackFailed(ILogger logger, Exception exception);

    [LoggerMessage(18, LogLevel.Debug, "Deleted {Count} expired message rows.", EventName = "ExpiredRowsDeleted")]
    public static partial void ExpiredRowsDeleted(ILogger logger, int count);

    [LoggerMessage(19, LogLevel.Warning, "Deleting expired message rows failed; retrying later.", EventName = "CleanupFailed")]
    public static partial void CleanupFailed(ILogger logger, Exception exception);

    [LoggerMessage(20, LogLevel.Warning, "The WAL checkpoint failed; retrying later.", EventName = "CheckpointFailed")]
    public static partial void CheckpointFailed(ILogger logger, Exception exception);

    [LoggerMessage(21, LogLevel.Warning, "Message row {RowId} has no payload for hub protocol '{ProtocolName}' used by connection {ConnectionId}; register the same hub protocols in every process.", EventName = "ProtocolPayloadMissing")]
    public static partial void ProtocolPayloadMissing(ILogger logger, long rowId, string protocolName, string connectionId);

    [LoggerMessage(22, LogLevel.Warning, "Could not record connection {ConnectionId} in the backplane; it receives local messages only until it reconnects.", EventName = "ConnectionRegistrationFailed")]
    public static partial void ConnectionRegistrationFailed(ILogger logger, string connectionId, Exception exception);

    [LoggerMessage(23, LogLevel.Warning, "Could not remove disconnected connection {ConnectionId} from the backplane; it is removed when this node stops or is reaped.", EventName = "ConnectionRemovalFailed")]
    public static partial void ConnectionRemovalFailed(ILogger logger, string connectionId, Exception exception);

    [LoggerMessage(24, LogLevel.Information, "Client result {InvocationId} for connection {ConnectionId} failed: node {NodeId}, which held the connection, is gone.", EventName = "ClientResultNodeGone")]
    public static partial void ClientResultNodeGone(ILogger logger, string invocationId, string connectionId, string nodeId);

    [LoggerMessage(25, LogLevel.Warning, "Could not forward the result of invocation {InvocationId} to node {NodeId}.", EventName = "ClientResultForwardFailed")]
    public static partial void ClientResultForwardFailed(ILogger logger, string invocationId, string nodeId, Exception exception);

    [LoggerMessage(26, LogLevel.Warning, "Received a client result in unknown hub protocol '{ProtocolName}' for invocation {InvocationId}; register the same hub protocols in every process.", EventName = "ClientResultProtocolUnknown")]
    public static partial void ClientResultProtocolUnknown(ILogger logger, string protocolName, string invocationId);

    [LoggerMessage(27, LogLevel.Warning, "The SQLite library in this process ({SqliteVersion}) sleeps whole seconds whenever it waits (built without HAVE_USLEEP), so SQLite's own lock waits stall for a second at a time. Reference SQLitePCLRaw.bundle_e_sqlite3 2.1.x or later (or Microsoft.Data.Sqlite 10) instead of the package that brings the old build. Logged once per process.", EventName = "SlowSleepBuildDetected")]
    public static partial void SlowSleepBuildDetected(ILogger logger, string sqliteVersion);

    [LoggerMessage(28, LogLevel.Warning, "Connection {ConnectionId} is not reading fast enough: {Pending} messages are waiting for it, so further messages to it are dropped until it catches up. Logged once per connection.", EventName = "SlowConnectionDropping")]
    public static partial void SlowConnectionDropping(ILogger logger, string connectionId, int pending);

    [LoggerMessage(102, LogLevel.Warning, "Connection {ConnectionId} opted in to resume and is not reading fast enough: {Pending} messages are waiting for it, so it is closed instead of losing messages; its client resumes from the last message it received (or is told of the gap).", EventName = "SlowResumeConnectionClosed")]
    public static partial void SlowResumeConnectionClosed(ILogger logger, string connectionId, int pending);

    [LoggerMessage(29, LogLevel.Warning, "The SQLite backplane database '{DatabasePath}' was deleted or replaced while in use; reopening the path and registering this node again.", EventName = "DatabaseReplaced")]
    public static partial void DatabaseReplaced(ILogger logger, string databasePath);

    [LoggerMessage(30, LogLevel.Warning, "The SQLite backplane log was at its capacity: deleted the {Count} oldest rows since the last report (MaxLogRows {MaxLogRows}); readers that had not read them skip them. Logged at most every 10 s.", EventName = "LogFullDroppedOldest")]
    public static partial void LogFullDroppedOldest(ILogger logger, long count, int maxLogRows);

    [LoggerMessage(31, LogLevel.Error, "A fan-out write to local connections failed unexpectedly; the connections' later messages are still delivered.", EventName = "LaneWriteFailed")]
    public static partial void LaneWriteFailed(ILogger logger, Exception exception);

    [LoggerMessage(32, LogLevel.Warning, "SQLite backplane node {NodeId} stopped without removing its rows: the host's shutdown timeout ran out first. Other nodes remove them after the node timeout ({NodeTimeout}).", EventName = "NodeStopCutShort")]
    public static partial void NodeStopCutShort(ILogger logger, string nodeId, TimeSpan nodeTimeout);

    [LoggerMessage(33, LogLevel.Warning, "Writing message row {RowId} to local connection {ConnectionId} failed; the other connections still receive it. Logged once per connection.", EventName = "DeliveryFailed")]
    public static partial void DeliveryFailed(ILogger logger, long rowId, string connectionId, Exception exception);

    [LoggerMessage(40, LogLevel.Warning, "Node {DeadNodeId} (process {ProcessId} on this machine) is gone: the kernel released its lock file, so the process ended without stopping its backplane node. Removed it and its {ConnectionCount} connections.", EventName = "NodeReapedByLockProbe")]
    public static partial void NodeReapedByLockProbe(ILogger logger, string deadNodeId, int processId, int connectionCount);

    [LoggerMessage(41, LogLevel.Warning, "Fast crash detection is unavailable ({Reason}); other processes notice that this one died only after NodeTimeout ({NodeTimeout}).", EventName = "CrashDetectionUnavailable")]
    public static partial void CrashDetectionUnavailable(ILogger logger, string reason, TimeSpan nodeTimeout);

    [LoggerMessage(42, LogLevel.Error, "A presence change handler failed on a {ChangeKind} change (node {NodeId}); later changes are still delivered to it.", EventName = "PresenceHandlerFailed")]
    public static partial void PresenceHandlerFailed(ILogger logger, string changeKind, string nodeId, Exception exception);

    [LoggerMessage(43, LogLevel.Warning, "A presence change handler of hub {Hub} is {MaxQueued} changes behind; later changes are dropped until it catches up, and it then receives ChangesDropped to read the state again.", EventName = "PresenceChangesDropped")]
    public static partial void PresenceChangesDropped(ILogger logger, string hub, int maxQueued);

    [LoggerMessage(50, LogLevel.Information, "Connection {ConnectionId} resumed connection {ResumedConnectionId}: replayed {Count} messages after log position {Position}.", EventName = "ConnectionResumed")]
    public static partial void ConnectionResumed(ILogger logger, string connectionId, string resumedConnectionId, int count, long position);

    [LoggerMessage(51, LogLevel.Information, "Connection {ConnectionId} asked to resume connection {ResumedConnectionId}, which is impossible ({Reason}); the client was told and starts without the missed messages.", EventName = "ResumeGap")]
    public static partial void ResumeGap(ILogger logger, string connectionId, string resumedConnectionId, string reason);

    [LoggerMessage(52, LogLevel.Warning, "Connection {ConnectionId} presented a resume token that is malformed, forged or for another hub; it was refused and the client starts fresh. Check that every process on the file uses the same EncryptionKeys.", EventName = "ResumeTokenRefused")]
    public static partial void ResumeTokenRefused(ILogger logger, string connectionId);

    [LoggerMessage(53, LogLevel.Warning, "Could not read the log to replay connection {ResumedConnectionId}'s missed messages to connection {ConnectionId}; the client was told of a gap and starts fresh.", EventName = "ResumeReplayFailed")]
    public static partial void ResumeReplayFailed(ILogger logger, string connectionId, string resumedConnectionId, Exception exception);

    [LoggerMessage(70, LogLevel.Information, "This process is stopping: it answers new requests 503 (a front door sends them to another process), its health check fails, and its SignalR connections close so their clients resume on the other processes.", EventName = "DrainingStarted")]
    public static partial void DrainingStarted(ILogger logger);

    [LoggerMessage(80, LogLevel.Debug, "WAL checkpoint {Outcome}: {CheckpointedFrames} of {LogFrames} frames copied back (under the write lock: {WriteLocked}) in {ElapsedMs} ms; the -wal file is {WalBytes} bytes.", EventName = "WalCheckpointed")]
    public static partial void WalCheckpointed(ILogger logger, string outcome, long checkpointedFrames, long logFrames, bool writeLocked, long elapsedMs, long walBytes);

    [LoggerMessage(81, LogLevel.Warning, "The -wal file of {Path} is {WalBytes} bytes, over MaxWalSize ({MaxWalSize} bytes). {Reason} See docs/operations.md, \"Disk use over weeks\".", EventName = "WalOverBound")]
    public static partial void WalOverBound(ILogger logger, string path, long walBytes, long maxWalSize, string reason);

    [LoggerMessage(90, LogLevel.Warning, "The backplane dashboard could not read a snapshot of the file; open pages keep the last one and it tries again in a second.", EventName = "DashboardSnapshotFailed")]
    public static partial void DashboardSnapshotFailed(ILogger logger, Exception exception);

    [LoggerMessage(91, LogLevel.Information, "The backplane dashboard refused a request from {RemoteAddress}: it answers only local requests unless the app names an authorization policy (RequireAuthorization).", EventName = "DashboardRequestRefused")]
    public static partial void DashboardRequestRefused(ILogger logger, string remoteAddress);

    [LoggerMessage(100, LogLevel.Debug, "Node {NodeId} publishes its delivery hold at log position {Position} (-1: none): senders on every node wait while the log runs too far past it.", EventName = "DeliveryHoldChanged")]
    public static partial void DeliveryHoldChanged(ILogger logger, string nodeId, long position);

    [LoggerMessage(101, LogLevel.Debug, "Could not read the other nodes' delivery holds; sends are paced by this node's own connections until the next read.", EventName = "DeliveryHoldReadFailed")]
    public static partial void DeliveryHoldReadFailed(ILogger logger, Exception exception);
}

using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using SqliteBackplane.Internal.Delivery;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane.Internal;

/// <summary>
/// One process's attachment to one backplane file: a row in the nodes table, one writer loop, one reader loop, a
/// query worker and a heartbeat. Every hub manager in the process built from the same options shares one node.
/// No SQLite call runs on the caller's thread: startup runs on its own thread, writes on the writer, reads on the
/// reader or the query worker.
/// </summary>
internal sealed class BackplaneNode : IAsyncDisposable
{
    private static readonly TimeSpan ThreadJoinTimeout = TimeSpan.FromSeconds(10);
    private const int CleanupBatchSize = 500;
    private const int MaxCleanupBatchesPerCycle = 20;

    private readonly SqliteBackplaneOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly object _startLock = new();
    private readonly object _enqueueLock = new();
    private readonly CancellationTokenSource _stopping = new();
    private Task? _startTask;
    private Task? _stopTask;
    private WriteOperation? _lastWrite;
    private string[] _remoteEndpoints = [];
    private WakeChannel? _wake;
    private CrossProcessWriteLock? _writeLock;
    private WriterLoop? _writer;
    private ReaderLoop? _reader;
    private SqliteWorker? _queries;
    private Task? _maintenance;
    private long _startedAtMs;

    public BackplaneNode(SqliteBackplaneOptions options, ILogger logger, IMeterFactory? meterFactory = null)
    {
        _options = options;
        _logger = logger;
        _timeProvider = options.TimeProvider;
        Database = new BackplaneDatabase(options);
        Protection = PayloadProtection.Create(options.EncryptionKeys);
        CapacityPolicy = new LogCapacityPolicy(options);
        Metrics = new BackplaneMetrics(meterFactory, NodeId, ReaderBacklog, () => _liveNodes, LocalConnectionCount);
        Admission = new SendAdmission(options.MaxQueuedMessages, options.MaxReaderLag, options.MaxPendingMessagesPerConnection, ReaderBacklog, Metrics);
        Dispatcher = new RowDispatcher(NodeId, _timeProvider, logger, Metrics, Protection);
    }

    public BackplaneMetrics Metrics { get; }

    /// <summary>Paces queued sends by delivery; see <see cref="SendAsync"/>.</summary>
    public SendAdmission Admission { get; }

    /// <summary>Which log capacity applies to a send, and what happens at it.</summary>
    public LogCapacityPolicy CapacityPolicy { get; }

    /// <summary>Encrypts and decrypts payloads; null when no keys are configured.</summary>
    public PayloadProtection? Protection { get; }

    private int _liveNodes = 1;

    private long ReaderBacklog()
    {
        var reader = _reader;
        var cursor = Cursor;
        return reader is null || cursor is null ? 0 : Math.Max(0, reader.MaxSeenId - cursor.Applied);
    }

    private int LocalConnectionCount()
    {
        var count = 0;
        foreach (var handler in Dispatcher.Handlers)
        {
            count += handler.LocalConnectionCount;
        }

        return count;
    }

    /// <summary>Unique per start of a node, so a restarted process never inherits a dead node's rows.</summary>
    public string NodeId { get; } = Guid.NewGuid().ToString("N");

    public BackplaneDatabase Database { get; }

    public RowDispatcher Dispatcher { get; }

    public SqliteBackplaneOptions Options => _options;

    public AppliedCursor? Cursor { get; private set; }

    public bool IsStopped => _stopTask is not null;

    public string? WakeMode => _wake?.Mode;

    /// <summary>Write transactions committed by this node's writer.</summary>
    internal long CommitCount => _writer?.CommitCount ?? 0;

    /// <summary>Starts the node on first use; a failed start is retried by the next caller.</summary>
    public Task EnsureStartedAsync()
    {
        var started = Volatile.Read(ref _startTask);
        if (started is not null && !started.IsFaulted)
        {
            return started;
        }

        lock (_startLock)
        {
            if (_stopTask is not null)
            {
                return Task.FromException(BackplaneErrors.Stopped(Database.Path));
            }

            if (_startTask is null || _startTask.IsFaulted)
            {
                var completion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var thread = new Thread(() => Start(completion)) { IsBackground = true, Name = "SqliteBP startup" };
                thread.Start();
                Volatile.Write(ref _startTask, completion.Task);
            }

            return _startTask;
        }
    }

    /// <summary>Queues a write and returns its result once committed.</summary>
    public async Task<T> WriteAsync<T>(WriteOperation<T> operation)
    {
        await EnsureStartedAsync();
        Enqueue(operation);
        return await operation.Task;
    }

    /// <summary>
    /// Queues a send and returns once it is queued, in order, in this process: its caller never waits for a commit.
    /// It waits first only while the file is unusable (it then fails at once with the writer's error), or while
    /// <see cref="Admission"/> holds sends back because delivery is behind (backpressure). A failure after it
    /// returned is logged, counted and reported by the health check.
    /// </summary>
    public Task SendAsync(QueuedAppendOperation operation, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _startTask) is { IsCompletedSuccessfully: true } && _writer!.FileFailure is null && Admission.CanEnterNow)
        {
            try
            {
                Accept(operation);
                return Task.CompletedTask;
            }
            catch (InvalidOperationException ex)
            {
                return Task.FromException(ex);
            }
        }

        return SendAfterWaitingAsync(operation, cancellationToken);
    }

    private async Task SendAfterWaitingAsync(QueuedAppendOperation operation, CancellationToken cancellationToken)
    {
        await EnsureStartedAsync();
        if (IsStopped)
        {
            throw BackplaneErrors.Stopped(Database.Path);
        }

        ThrowIfFileFailing();
        if (!Admission.CanEnterNow)
        {
            var started = Stopwatch.GetTimestamp();
            if (!await Admission.WaitAsync(_options.BusyTimeout, cancellationToken))
            {
                ThrowIfFileFailing();
                throw BackplaneErrors.BackpressureTimeout(Database.Path, Stopwatch.GetElapsedTime(started));
            }

            Metrics.SendWaited(Stopwatch.GetElapsedTime(started));
            ThrowIfFileFailing();
        }

        Accept(operation);
    }

    private void ThrowIfFileFailing()
    {
        if (_writer!.FileFailure is { } failure)
        {
            throw BackplaneErrors.FileStillFailing(failure);
        }
    }

    private void Accept(WriteOperation operation)
    {
        Admission.Entered();
        if (!TryEnqueue(operation))
        {
            Admission.Left(failure: null);
            throw BackplaneErrors.Stopped(Database.Path);
        }
    }

    private void Enqueue(WriteOperation operation, bool duringShutdown = false)
    {
        if (!TryEnqueue(operation, duringShutdown))
        {
            operation.Fail(BackplaneErrors.Stopped(Database.Path));
        }
    }

    // Once shutdown has begun only the final unregistration is accepted.
    private bool TryEnqueue(WriteOperation operation, bool duringShutdown = false)
    {
        lock (_enqueueLock)
        {
            if (_stopping.IsCancellationRequested && !duringShutdown || !_writer!.TryEnqueue(operation))
            {
                return false;
            }

            _lastWrite = operation;
            return true;
        }
    }

    /// <summary>Completes once everything this node queued before the call has been committed (or has failed).</summary>
    internal async Task WhenWrittenAsync()
    {
        var last = LastWrite;
        if (last is not null && !last.Completion.IsCompleted)
        {
            // Only the order matters here; the write's own caller (or the failure count, for a queued send) sees its failure.
            await last.Completion.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    /// <summary>The operation this node queued last; what later direct sends and presence reads wait behind.</summary>
    private WriteOperation? LastWrite
    {
        get
        {
            lock (_enqueueLock)
            {
                return _lastWrite;
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="write"/> (a direct write to a local connection) once every row this node queued before
    /// this call has been dispatched by the reader, so the direct write cannot overtake them.
    /// </summary>
    public void RunAfterOwnWrites(Action write)
    {
        var cursor = Cursor;
        if (cursor is null)
        {
            write();
            return;
        }

        cursor.RunAfter(LastWrite, write);
    }

    /// <summary>
    /// Runs a read on the query thread once every write this node queued before the call has committed, so a
    /// presence answer reflects this process's own connects, disconnects and group changes.
    /// </summary>
    public async Task<T> QueryAsync<T>(Func<SqliteConnection, T> query, CancellationToken cancellationToken)
    {
        await EnsureStartedAsync().WaitAsync(cancellationToken);
        await WhenWrittenAsync().WaitAsync(cancellationToken);
        return await _queries!.RunAsync(query, cancellationToken);
    }

    private void Start(TaskCompletionSource completion)
    {
        SqliteConnection? connection = null;
        try
        {
            connection = Database.Open();
            SqliteSleepCheck.CheckOnce(_logger);

            _writeLock ??= new CrossProcessWriteLock(Database.Path);

            // Before the node row is written, so the row carries the endpoint other nodes wake this one at.
            _wake = WakeChannel.Create(_options.EnableWakeups, NodeId, out var wakeUnavailable);
            if (wakeUnavailable is not null)
            {
                BackplaneLog.WakeupsUnavailable(_logger, wakeUnavailable, _options.SafetyPollInterval);
            }

            long cursorStart;
            using (var context = NewWriterContext(connection))
            {
                cursorStart = Initialize(context);
            }

            // Existing nodes reload their endpoint lists, so they wake this one from their next commit on.
            _wake.Notify(_remoteEndpoints, WakeChannel.RefreshSignal);

            Cursor = new AppliedCursor(cursorStart);
            _writer = new WriterLoop(Database, _writeLock, _options, _timeProvider, NodeId, _logger, Metrics, AfterCommit, AfterBatch, OnFileReplaced);
            _writer.Start(connection);
            connection = null;
            _reader = new ReaderLoop(Database, _wake, Dispatcher, Cursor, Admission, _options.SafetyPollInterval, _logger, _stopping.Token);
            _reader.Start();
            _queries = new SqliteWorker(Database);
            _maintenance = Task.Run(MaintainAsync);

            BackplaneLog.NodeStarted(_logger, NodeId, Database.Path, _options.TablePrefix, _wake.Mode);
            if (!Database.FineGrainedBusyHandler)
            {
                BackplaneLog.BusyHandlerUnavailable(_logger);
            }

            completion.TrySetResult();
        }
        catch (Exception ex)
        {
            connection?.Dispose();
            _wake?.Dispose();
            _wake = null;
            // Not logged here: the hosted service fails the host's start with it (the host logs it once), and
            // without a host every caller that needs the node receives it.
            completion.TrySetException(ex is SqliteException sqlite ? Database.Translate(sqlite) : ex);
        }
    }

    // WAL mode, schema, node registration; returns the log position reading starts from (the current end).
    private long Initialize(WriterContext context)
    {
        var queries = Database.Queries;
        var journalMode = Convert.ToString(context.Scalar(SqliteQueries.EnableWal), System.Globalization.CultureInfo.InvariantCulture) ?? "";

        if (!string.Equals(journalMode, "wal", StringComparison.OrdinalIgnoreCase))
        {
            throw BackplaneErrors.WalUnavailable(Database.Path, journalMode);
        }

        long cursorStart = 0;
        RunInWriteTransaction(context, () =>
        {
            if (_options.AutoCreateSchema)
            {
                context.Execute(queries.CreateSchema);
            }
            else if (Convert.ToInt64(context.Scalar(queries.CountBackplaneTables), System.Globalization.CultureInfo.InvariantCulture) < 5)
            {
                throw BackplaneErrors.SchemaMissing(Database.Path, _options.TablePrefix);
            }

            var version = Convert.ToString(context.Scalar(queries.SelectSchemaVersion), System.Globalization.CultureInfo.InvariantCulture);
            if (!int.TryParse(version, out var parsed) || parsed > SqliteQueries.SchemaVersion)
            {
                throw BackplaneErrors.SchemaTooNew(Database.Path, version ?? "(missing)");
            }

            if (_startedAtMs == 0)
            {
                _startedAtMs = _timeProvider.GetUtcNow().ToUnixTimeMilliseconds();
            }

            context.Execute(queries.UpsertNode, NodeParameters());
            _remoteEndpoints = ReadEndpoints(context);
            cursorStart = (long)context.Scalar(queries.SelectMaxMessageId)!;
        });
        return cursorStart;
    }

    private (string, object?)[] NodeParameters() =>
    [
        ("$node", NodeId),
        ("$machine", Environment.MachineName),
        ("$pid", Environment.ProcessId),
        ("$started", _startedAtMs),
        ("$now", _timeProvider.GetUtcNow().ToUnixTimeMilliseconds()),
        ("$endpoint", _wake?.Endpoint),
    ];

    private WriterContext NewWriterContext(SqliteConnection connection) =>
        new(connection, Database.Queries, NodeId, (long)_options.MessageExpiry.TotalMilliseconds)
        {
            NowMs = _timeProvider.GetUtcNow().ToUnixTimeMilliseconds(),
        };

    // A write transaction outside the writer loop (startup, a replaced file), under the same cross-process lock.
    private void RunInWriteTransaction(WriterContext context, Action work)
    {
        if (!_writeLock!.TryEnter(_options.BusyTimeout))
        {
            throw BackplaneErrors.WriteLockTimeout(Database.Path, _options.BusyTimeout);
        }

        try
        {
            context.Execute(SqliteQueries.BeginImmediate);
            try
            {
                work();
                context.Execute(SqliteQueries.Commit);
            }
            catch
            {
                if (SQLitePCL.raw.sqlite3_get_autocommit(context.Connection.Handle) == 0)
                {
                    context.Execute(SqliteQueries.Rollback);
                }

                throw;
            }
        }
        finally
        {
            _writeLock.Exit();
        }
    }

    private string[] ReadEndpoints(WriterContext context)
    {
        using var reader = context.Command(Database.Queries.SelectWakeEndpoints, [("$node", NodeId)]).ExecuteReader();
        var endpoints = new List<string>();
        while (reader.Read())
        {
            endpoints.Add(reader.GetString(0));
        }

        return [.. endpoints];
    }

    // Runs on the writer thread right after each commit.
    private void AfterCommit(WriterContext context)
    {
        if (context.DroppedOldestInBatch > 0)
        {
            ReportDroppedOldest(context.DroppedOldestInBatch);
        }

        if (!context.AppendedInBatch)
        {
            return;
        }

        var wake = _wake!;
        wake.WakeLocal();
        if (wake.RefreshRequested)
        {
            wake.RefreshRequested = false;
            try
            {
                _remoteEndpoints = ReadEndpoints(context);
            }
            catch (SqliteException ex)
            {
                BackplaneLog.HeartbeatFailed(_logger, ex);
            }
        }

        wake.Notify(_remoteEndpoints, WakeChannel.WakeSignal);
    }


    // Runs on the writer thread with a fresh connection to a file that replaced the one this node had: set the new file
    // up as at startup, put this node's connections and groups back, and start reading the new log from its end.
    private void OnFileReplaced(SqliteConnection connection)
    {
        using var context = NewWriterContext(connection);
        var cursor = Initialize(context);
        RunInWriteTransaction(context, () => RestoreLocalConnections(context));
        _reader!.RequestReset(cursor);
        _queries!.Reopen();
    }

    private ThrottledCount? _droppedOldestToLog;

    // Writer thread only.
    private void ReportDroppedOldest(int count)
    {
        Metrics.DroppedOldest(count);
        _droppedOldestToLog ??= new ThrottledCount(_timeProvider, TimeSpan.FromSeconds(10));
        if (_droppedOldestToLog.Add(count) is > 0 and var dropped)
        {
            BackplaneLog.LogFullDroppedOldest(_logger, dropped, _options.MaxLogRows);
        }
    }

    // Runs on the writer thread after every batch, committed or not.
    private void AfterBatch()
    {
        Admission.Progress();
        if (_writer!.FileFailure is not null && Interlocked.CompareExchange(ref _fileProbeScheduled, 1, 0) == 0)
        {
            _ = ProbeFailingFileAsync();
        }
        if (Cursor!.HasDeferred)
        {
            // Direct writes may be waiting on operations that appended nothing: let the reader release them.
            _wake!.WakeLocal();
        }
    }

    private static readonly TimeSpan FileProbeInterval = TimeSpan.FromMilliseconds(250);
    private int _fileProbeScheduled;

    // While the file is failing, new sends fail at once; a small write every FileProbeInterval notices when it works
    // again (the disk has space, the lock was released), so sends resume without waiting for a heartbeat.
    private async Task ProbeFailingFileAsync()
    {
        try
        {
            await Task.Delay(FileProbeInterval, _stopping.Token);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        finally
        {
            Volatile.Write(ref _fileProbeScheduled, 0);
        }

        var probe = new DelegateWriteOperation<int>(w => w.Execute(w.Queries.UpdateHeartbeat, ("$node", w.NodeId), ("$now", w.NowMs)));
        Enqueue(probe);
        // The outcome shows in FileFailure; the writer has logged a failure.
        await probe.Completion.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>Whether the last write batch failed for a reason that concerns the whole file (new sends fail at once).</summary>
    internal bool IsFileFailing => _writer?.FileFailure is not null;

    private async Task MaintainAsync()
    {
        using var timer = new PeriodicTimer(_options.HeartbeatInterval, _timeProvider);
        var cycle = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token))
            {
                cycle++;
                await HeartbeatAsync();
                if (cycle % 5 == 0)
                {
                    await CleanupExpiredAsync();
                    await CheckpointAsync();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Runs one heartbeat now (tests use this instead of waiting for the timer).</summary>
    internal Task RunHeartbeatAsync() => HeartbeatAsync();

    /// <summary>Deletes expired rows now (tests use this instead of waiting for the timer).</summary>
    internal Task RunCleanupAsync() => CleanupExpiredAsync();

    private async Task HeartbeatAsync()
    {
        var heartbeat = new DelegateWriteOperation<HeartbeatResult>(Heartbeat);
        try
        {
            Enqueue(heartbeat);
            var result = await heartbeat.Task;
            _remoteEndpoints = result.Endpoints;
            _liveNodes = result.LiveNodes;
            foreach (var dead in result.Reaped)
            {
                BackplaneLog.NodeReaped(_logger, dead.NodeId, dead.Connections, _options.NodeTimeout);
                SocketWakeChannel.DeleteStaleEndpoint(dead.Endpoint);
            }

            if (result.Revived > 0)
            {
                BackplaneLog.NodeRevived(_logger, NodeId, result.Revived);
            }
        }
        catch (Exception ex)
        {
            BackplaneLog.HeartbeatFailed(_logger, ex);
        }
    }

    private sealed record ReapedNode(string NodeId, string? Endpoint, int Connections);

    private sealed record HeartbeatResult(string[] Endpoints, List<ReapedNode> Reaped, int Revived, int LiveNodes);

    // One transaction: prove we are alive, re-register if others declared us dead, and reap nodes that are silent.
    private HeartbeatResult Heartbeat(WriterContext context)
    {
        var queries = context.Queries;
        var revived = 0;
        if (context.Execute(queries.UpdateHeartbeat, ("$node", NodeId), ("$now", context.NowMs)) == 0)
        {
            context.Execute(queries.UpsertNode, NodeParameters());
            revived = RestoreLocalConnections(context);
        }

        var deadline = context.NowMs - (long)_options.NodeTimeout.TotalMilliseconds;
        var dead = new List<(string NodeId, string? Endpoint)>();
        var select = context.Command(queries.SelectDeadNodes);
        select.Parameters.AddWithValue("$deadline", deadline);
        select.Parameters.AddWithValue("$node", NodeId);
        using (var reader = select.ExecuteReader())
        {
            while (reader.Read())
            {
                dead.Add((reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1)));
            }
        }

        var reaped = new List<ReapedNode>(dead.Count);
        foreach (var (deadNodeId, endpoint) in dead)
        {
            reaped.Add(new ReapedNode(deadNodeId, endpoint, RemoveNodeRows(context, deadNodeId)));
        }

        var liveNodes = Convert.ToInt32(context.Scalar(queries.CountNodes), System.Globalization.CultureInfo.InvariantCulture);
        return new HeartbeatResult(ReadEndpoints(context), reaped, revived, liveNodes);
    }

    // Deletes a node with its connections and groups, and appends a NodeGone row so every reader fails what waits on it.
    private static int RemoveNodeRows(WriterContext context, string nodeId) => Maintenance.NodeRowRemoval.Remove(context, nodeId);

    private int RestoreLocalConnections(WriterContext context)
    {
        var queries = context.Queries;
        var restored = 0;
        foreach (var (hub, handler) in HubHandlers())
        {
            foreach (var connection in handler.SnapshotLocalConnections())
            {
                context.Execute(queries.UpsertConnection, ("$hub", hub), ("$connection", connection.ConnectionId), ("$user", connection.UserId),
                    ("$node", NodeId), ("$now", context.NowMs));
                foreach (var group in connection.Groups)
                {
                    context.Execute(queries.InsertGroupMember, ("$hub", hub), ("$group", group), ("$connection", connection.ConnectionId));
                }

                restored++;
            }
        }

        return restored;
    }

    private readonly Dictionary<string, IHubRowHandler> _handlersByHub = new(StringComparer.Ordinal);

    public void RegisterHub(string hub, IHubRowHandler handler)
    {
        lock (_handlersByHub)
        {
            if (!Dispatcher.Register(hub, handler))
            {
                throw new InvalidOperationException(
                    $"Two hub lifetime managers for hub '{hub}' share one SQLite backplane node. Create one manager per hub type per options instance.");
            }

            _handlersByHub[hub] = handler;
        }
    }

    public void UnregisterHub(string hub, IHubRowHandler handler)
    {
        lock (_handlersByHub)
        {
            Dispatcher.Unregister(hub, handler);
            if (_handlersByHub.TryGetValue(hub, out var current) && ReferenceEquals(current, handler))
            {
                _handlersByHub.Remove(hub);
            }
        }
    }

    private KeyValuePair<string, IHubRowHandler>[] HubHandlers()
    {
        lock (_handlersByHub)
        {
            return [.. _handlersByHub];
        }
    }

    private async Task CleanupExpiredAsync()
    {
        try
        {
            for (var batch = 0; batch < MaxCleanupBatchesPerCycle; batch++)
            {
                // Small separate transactions, so the write lock is never held for long.
                var delete = new DelegateWriteOperation<int>(context =>
                    context.Execute(context.Queries.DeleteExpiredMessages, ("$now", context.NowMs), ("$limit", CleanupBatchSize)));
                Enqueue(delete);
                var deleted = await delete.Task;
                if (deleted > 0)
                {
                    BackplaneLog.ExpiredRowsDeleted(_logger, deleted);
                }

                if (deleted < CleanupBatchSize)
                {
                    return;
                }
            }
        }
        catch (Exception ex)
        {
            BackplaneLog.CleanupFailed(_logger, ex);
        }
    }

    private async Task CheckpointAsync()
    {
        if (!_options.RunCheckpoints)
        {
            return;
        }

        try
        {
            // PASSIVE never waits for readers or writers and never truncates the WAL (replicators rely on that).
            await _queries!.RunAsync(connection =>
            {
                using var command = connection.CreateCommand();
                command.CommandText = SqliteQueries.PassiveCheckpoint;
                return command.ExecuteNonQuery();
            });
        }
        catch (Exception ex)
        {
            BackplaneLog.CheckpointFailed(_logger, ex);
        }
    }

    /// <summary>
    /// Graceful shutdown: removes this node's node, connection and group rows at once (telling the other nodes through
    /// the log), then stops the loops. Safe to call more than once.
    /// </summary>
    /// <param name="deadline">
    /// The host's shutdown timeout: once it fires, the node stops waiting to remove its rows and leaves them to the
    /// other nodes' reaping. Only the first call's deadline counts.
    /// </param>
    public Task StopAsync(CancellationToken deadline = default)
    {
        lock (_startLock)
        {
            _stopTask ??= StopCoreAsync(deadline);
            return _stopTask;
        }
    }

    private async Task StopCoreAsync(CancellationToken deadline)
    {
        var start = _startTask;
        if (start is null)
        {
            return;
        }

        try
        {
            await start;
        }
        catch
        {
            return;
        }

        _stopping.Cancel();
        try
        {
            if (_maintenance is not null)
            {
                await _maintenance.WaitAsync(deadline);
            }

            var unregister = new DelegateWriteOperation<int>(context => RemoveNodeRows(context, NodeId));
            Enqueue(unregister, duringShutdown: true);
            var removed = await unregister.Task.WaitAsync(ThreadJoinTimeout, deadline);
            BackplaneLog.NodeStopped(_logger, NodeId, removed);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            BackplaneLog.NodeStopCutShort(_logger, NodeId, _options.NodeTimeout);
        }
        catch (Exception ex)
        {
            BackplaneLog.NodeStopFailed(_logger, NodeId, BackplaneErrors.Describe(ex));
        }

        Admission.Dispose();
        await Task.Factory.StartNew(() =>
        {
            _writer!.Stop(ThreadJoinTimeout);
            _wake!.WakeLocal();
            _reader!.Join(ThreadJoinTimeout);
            _queries!.Stop(ThreadJoinTimeout);
            _wake.Dispose();
            _writeLock?.Dispose();
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Cursor?.ReleaseAll();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stopping.Dispose();
        Metrics.Dispose();
    }
}

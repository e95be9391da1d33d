using System.Diagnostics.Metrics;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using SqliteBackplane.Internal.Delivery;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Internal.Diagnostics;
using SqliteBackplane.Internal.Flow;

namespace SqliteBackplane.Internal.Node;

/// <summary>
/// One process's attachment to one backplane file: a row in the nodes table, one writer loop, one reader loop, a
/// query worker and a heartbeat. Every hub manager in the process built from the same options shares one node: in
/// an app the container's <see cref="AppBackplaneNode"/>, otherwise one of <see cref="BackplaneNodeRegistry"/>.
/// No SQLite call runs on the caller's thread: startup runs on its own thread, writes on the writer, reads on the
/// reader or the query worker.
/// </summary>
internal sealed class BackplaneNode : IDeliveryNode, IAsyncDisposable
{
    /// <summary>The log category of a node's own events in a host.</summary>
    public const string LogCategory = "SqliteBackplane";

    private static readonly TimeSpan ThreadJoinTimeout = TimeSpan.FromSeconds(10);

    private readonly SqliteBackplaneOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly object _startLock = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly NodeWriteQueue _writes;
    private Task? _startTask;
    private Task? _stopTask;
    private WakeChannel? _wake;
    private CrossProcessWriteLock? _writeLock;
    private WriterLoop? _writer;
    private ReaderLoop? _reader;
    private SqliteWorker? _queries;
    private NodeMaintenanceScheduler? _scheduler;
    private Task? _maintenance;
    private NodeLockFile? _lockFile;
    private NodeCrashWatch? _crashWatch;
    private Task? _crashWatchRun;

    public BackplaneNode(SqliteBackplaneOptions options, ILogger logger, IMeterFactory? meterFactory = null)
    {
        _options = options;
        _logger = logger;
        _timeProvider = options.TimeProvider;
        Database = new BackplaneDatabase(options);
        Protection = PayloadProtection.Create(options.EncryptionKeys);
        ResumeTokens = new ResumeTokens(options.EncryptionKeys);
        CapacityPolicy = new MessageLogCapacityPolicy(options);
        Metrics = new BackplaneMetrics(meterFactory, NodeId, ReaderBacklog, LiveNodes, LocalConnectionCount);
        Admission = new SendAdmission(options.MaxQueuedMessages, options.MaxReaderLag, options.MaxPendingMessagesPerConnection, ReaderBacklog, Metrics,
            () => Cursor?.Applied ?? 0);
        Dispatcher = new RowDispatcher(NodeId, _timeProvider, logger, Metrics, Protection);
        _membership = new NodeMembership(NodeId, Database, Dispatcher, logger, ResumeTokens);
        _writes = new NodeWriteQueue(Database.Path, _stopping.Token);
        Sends = new NodeSendGate(this, _writes, options.BusyTimeout);
    }

    private readonly NodeMembership _membership;

    public BackplaneMetrics Metrics { get; }

    /// <summary>Paces queued sends by delivery; see <see cref="NodeSendGate"/>.</summary>
    public SendAdmission Admission { get; }

    /// <summary>Which log capacity applies to a send, and what happens at it.</summary>
    public MessageLogCapacityPolicy CapacityPolicy { get; }

    /// <summary>Encrypts and decrypts payloads; null when no keys are configured.</summary>
    public PayloadProtection? Protection { get; }

    /// <summary>Issues and checks resume tokens (docs/resume.md).</summary>
    public ResumeTokens ResumeTokens { get; }

    /// <summary>Unique per start of a node, so a restarted process never inherits a dead node's rows.</summary>
    public string NodeId { get; } = Guid.NewGuid().ToString("N");

    public BackplaneDatabase Database { get; }

    public RowDispatcher Dispatcher { get; }

    public SqliteBackplaneOptions Options => _options;

    public AppliedCursor? Cursor { get; private set; }

    public bool IsStopped => _stopTask is not null;

    /// <summary>Whether the node has started (and start did not fail).</summary>
    public bool IsStarted => Volatile.Read(ref _startTask) is { IsCompletedSuccessfully: true };

    /// <summary>Where queued sends enter: paced by <see cref="Admission"/>, never waiting for a commit.</summary>
    public NodeSendGate Sends { get; }

    /// <summary>The order of this node's writes: what direct sends, presence reads and tests wait behind.</summary>
    public NodeWriteQueue Writes => _writes;

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
        _writes.Enqueue(operation);
        return await operation.Task;
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

        cursor.RunAfter(_writes.Last, write);
    }

    /// <summary>
    /// Runs a read on the query thread once every write this node queued before the call has committed, so a
    /// presence answer reflects this process's own connects, disconnects and group changes.
    /// </summary>
    public async Task<T> QueryAsync<T>(Func<SqliteConnection, T> query, CancellationToken cancellationToken)
    {
        await EnsureStartedAsync().WaitAsync(cancellationToken);
        await _writes.WhenWrittenAsync().WaitAsync(cancellationToken);
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
                BackplaneEvents.WakeupsUnavailable(_logger, wakeUnavailable, _options.SafetyPollInterval);
            }

            _membership.WakeEndpoint = _wake.Endpoint;

            // Held before the node row exists, so no other node ever probes it unlocked while this one lives.
            _lockFile = NodeLockFile.TryHold(NodeId, out var crashDetectionUnavailable);
            if (crashDetectionUnavailable is not null)
            {
                BackplaneEvents.CrashDetectionUnavailable(_logger, crashDetectionUnavailable, _options.NodeTimeout);
            }

            var cursorStart = _membership.Join(connection, _writeLock, restoreConnections: false);

            // Existing nodes reload their endpoint lists, so they wake this one from their next commit on.
            _wake.Notify(_membership.RemoteEndpoints, WakeChannel.RefreshSignal);

            Cursor = new AppliedCursor(cursorStart);
            var holds = new DeliveryHolds(NodeId, Admission, Database.Queries, _timeProvider, _logger) { Enqueue = operation => _writes.Enqueue(operation) };
            if (_membership.HasDeliveryHolds)
            {
                holds.Attach();
                _membership.HeartbeatWritten = holds.AfterHeartbeat;
            }

            var events = new NodeWriterEvents(_membership, _wake, Cursor, Admission, _writeLock, Metrics, _options, _logger)
            {
                Enqueue = operation => _writes.Enqueue(operation),
                Stopping = _stopping.Token,
                Holds = holds,
            };
            _writer = new WriterLoop(Database, _writeLock, _options, _timeProvider, NodeId, _logger, Metrics, events);
            _writes.Writer = _writer;
            _writer.Start(connection);
            connection = null;
            _reader = new ReaderLoop(Database, _wake, Dispatcher, Cursor, Admission, _options.SafetyPollInterval, _logger, _stopping.Token);
            _reader.Start();
            _queries = new SqliteWorker(Database);
            holds.Worker = _queries;
            events.Readers = (_reader, _queries);
            _scheduler = new NodeMaintenanceScheduler(_options, _membership, op => _writes.Enqueue(op), _queries, Database, Metrics, _logger,
                new NodeStatsPublisher(NodeId, op => _writes.Enqueue(op), ReaderBacklog, () => Cursor?.Applied ?? 0, LocalConnectionCount, _timeProvider));
            _maintenance = Task.Run(() => _scheduler.RunAsync(_stopping.Token));
            if (!OperatingSystem.IsWindows())
            {
                _crashWatch = new NodeCrashWatch(_membership, op => _writes.Enqueue(op), _logger);
                _wake.PeerUnreachable = _crashWatch.ProbeSoon;
                _crashWatchRun = Task.Run(() => _crashWatch.RunAsync(_stopping.Token));
            }

            BackplaneEvents.NodeStarted(_logger, NodeId, Database.Path, _options.TablePrefix, _wake.Mode);
            if (!Database.FineGrainedBusyHandler)
            {
                BackplaneEvents.BusyHandlerUnavailable(_logger);
            }

            completion.TrySetResult();
        }
        catch (Exception ex)
        {
            connection?.Dispose();
            _wake?.Dispose();
            _wake = null;
            _lockFile?.Dispose();
            _lockFile = null;
            // Not logged here: the hosted service fails the host's start with it (the host logs it once), and
            // without a host every caller that needs the node receives it.
            completion.TrySetException(ex is SqliteException sqlite ? Database.Translate(sqlite) : ex);
        }
    }

    /// <summary>Runs one heartbeat now (tests use this instead of waiting for the timer).</summary>
    internal Task RunHeartbeatAsync() => _scheduler?.HeartbeatAsync() ?? Task.CompletedTask;

    /// <summary>Probes the lock files of this machine's other nodes now (tests use this instead of waiting for the timer).</summary>
    internal Task RunCrashProbeAsync() => _crashWatch?.ProbeAsync() ?? Task.CompletedTask;

    /// <summary>Deletes expired rows now (tests use this instead of waiting for the timer).</summary>
    internal Task RunCleanupAsync() => _scheduler?.CleanupExpiredAsync() ?? Task.CompletedTask;

    /// <summary>Routes the log's rows for <paramref name="hub"/> to <paramref name="handler"/>; one handler per hub.</summary>
    public void RegisterHub(string hub, IHubRowHandler handler)
    {
        if (!Dispatcher.Register(hub, handler))
        {
            throw new InvalidOperationException(
                $"Two hub lifetime managers for hub '{hub}' share one SQLite backplane node. Create one manager per hub type per options instance.");
        }
    }

    public void UnregisterHub(string hub, IHubRowHandler handler) => Dispatcher.Unregister(hub, handler);

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

            if (_crashWatchRun is not null)
            {
                await _crashWatchRun.WaitAsync(deadline);
            }

            var unregister = _membership.Leave();
            _writes.Enqueue(unregister, duringShutdown: true);
            var removed = await unregister.Task.WaitAsync(ThreadJoinTimeout, deadline);
            BackplaneEvents.NodeStopped(_logger, NodeId, removed);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            BackplaneEvents.NodeStopCutShort(_logger, NodeId, _options.NodeTimeout);
        }
        catch (Exception ex)
        {
            BackplaneEvents.NodeStopFailed(_logger, NodeId, BackplaneErrors.Describe(ex));
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

            // Last: while the lock is held no other node removes this one's rows as a crashed node's.
            _lockFile?.Dispose();
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Cursor?.ReleaseAll();
    }

    /// <summary>Whether the last write batch failed for a reason that concerns the whole file (new sends fail at once).</summary>
    internal bool IsFileFailing => _writes.FileFailure is not null;

    // What the metrics, the published figures and the health check read from the node's running parts.
    private long ReaderBacklog()
    {
        var reader = _reader;
        var cursor = Cursor;
        return reader is null || cursor is null ? 0 : Math.Max(0, reader.MaxSeenId - cursor.Applied);
    }

    private int LiveNodes() => _membership.LiveNodes;

    private int LocalConnectionCount()
    {
        var count = 0;
        foreach (var handler in Dispatcher.Handlers)
        {
            count += handler.LocalConnectionCount;
        }

        return count;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stopping.Dispose();
        Metrics.Dispose();
    }
}

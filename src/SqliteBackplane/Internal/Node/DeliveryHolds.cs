using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Internal.Diagnostics;
using SqliteBackplane.Internal.Flow;

namespace SqliteBackplane.Internal.Node;

/// <summary>
/// Carries <see cref="SendAdmission"/>'s delivery holds through the file, the one place every process shares: this
/// node's hold goes into its row of the nodes table (a write queued when the hold begins or ends, again every
/// <see cref="SendAdmission.HoldRefreshInterval"/> while it lasts, and after a heartbeat when a write failed); the
/// lowest hold of the other live nodes is read on the writer after a commit, once the log grew by a few rows (an eighth
/// of <see cref="RemoteDeliveryHold.MaxLead"/>), and on the query worker while sends wait on it. Nothing runs while the
/// node is idle. A hold whose row was not written for <see cref="StaleAfter"/> (a dead or frozen process) is ignored.
/// </summary>
internal sealed class DeliveryHolds
{
    /// <summary>
    /// A holding node rewrites its row every <see cref="SendAdmission.HoldRefreshInterval"/>; a hold older than this is
    /// ignored, so a node that died while holding delays senders at most this long (well under the send timeout).
    /// </summary>
    internal static readonly TimeSpan StaleAfter = TimeSpan.FromSeconds(2);

    private readonly string _nodeId;
    private readonly SendAdmission _admission;
    private readonly SqliteQueries _queries;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly long _readEveryRows;
    private long _logEndAtLastRead;
    private int _publishScheduled;
    private int _publishFailed;
    private int _remoteReadInFlight;
    private long? _lastPublished;

    public DeliveryHolds(string nodeId, SendAdmission admission, SqliteQueries queries, TimeProvider timeProvider, ILogger logger)
    {
        _nodeId = nodeId;
        _admission = admission;
        _queries = queries;
        _timeProvider = timeProvider;
        _logger = logger;
        _readEveryRows = Math.Max(1, admission.Remote.MaxLead / 8);
    }

    /// <summary>Queues a write on the node's writer.</summary>
    public required Action<WriteOperation> Enqueue { get; init; }

    /// <summary>The query worker, for reads while sends wait; null until it exists.</summary>
    public SqliteWorker? Worker { get; set; }

    /// <summary>Connects the holds to <see cref="SendAdmission"/>; call once the file is known to have the column.</summary>
    public void Attach()
    {
        _admission.LocalHoldChanged = PublishSoon;
        _admission.Remote.Stale = ReadOnWorker;
    }

    /// <summary>
    /// After a commit that appended rows (writer thread): notes the log's end, and reads the other nodes' holds once the
    /// log grew by <see cref="_readEveryRows"/> since the last read. About one small read per that many rows.
    /// </summary>
    public void Committed(WriterContext context)
    {
        var logEnd = context.LastAppendedId;
        _admission.Remote.NoteLogEnd(logEnd);
        if (_admission.LocalHoldChanged is null || (logEnd - _logEndAtLastRead < _readEveryRows && _admission.Remote.Hold is null))
        {
            return;
        }

        _logEndAtLastRead = logEnd;
        try
        {
            var value = context.Scalar(_queries.SelectLowestDeliveryHold, (Columns.Node, _nodeId), (Columns.Deadline, context.NowMs - (long)StaleAfter.TotalMilliseconds));
            _admission.SetRemoteHold(value is long hold ? hold : null);
        }
        catch (SqliteException ex)
        {
            BackplaneEvents.DeliveryHoldReadFailed(_logger, ex);
        }
    }

    /// <summary>After a heartbeat: publishes again if the last publication failed (the file was failing).</summary>
    public void AfterHeartbeat()
    {
        if (Volatile.Read(ref _publishFailed) == 1)
        {
            PublishSoon();
        }
    }

    // One publication queued at a time; it writes the hold as it is when the writer runs it.
    private void PublishSoon()
    {
        if (Interlocked.Exchange(ref _publishScheduled, 1) == 1)
        {
            return;
        }

        var publish = new DelegateWriteOperation<int>(Publish);
        Enqueue(publish);
        _ = publish.Completion.ContinueWith(static (task, state) =>
        {
            var holds = (DeliveryHolds)state!;
            Volatile.Write(ref holds._publishScheduled, 0);
            if (task.IsFaulted)
            {
                // Retried after the next heartbeat, not at once: a failing file would fail every retry.
                Volatile.Write(ref holds._publishFailed, 1);
            }
        }, this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private int Publish(WriterContext context)
    {
        // A change from here on schedules another publication.
        Volatile.Write(ref _publishScheduled, 0);
        Volatile.Write(ref _publishFailed, 0);
        var hold = _admission.LocalHold;
        if (hold != _lastPublished)
        {
            BackplaneEvents.DeliveryHoldChanged(_logger, _nodeId, hold ?? -1);
            _lastPublished = hold;
        }

        return context.Execute(_queries.UpdateDeliveryHold, (Columns.Value, hold), (Columns.Now, context.NowMs), (Columns.Node, _nodeId));
    }

    // While sends wait on a remote hold: read the holds again on the query worker (the writer may have nothing to commit).
    private void ReadOnWorker()
    {
        var worker = Worker;
        if (worker is null || Interlocked.Exchange(ref _remoteReadInFlight, 1) == 1)
        {
            return;
        }

        var deadline = _timeProvider.GetUtcNow().ToUnixTimeMilliseconds() - (long)StaleAfter.TotalMilliseconds;
        _ = worker.RunAsync(connection =>
        {
            using var command = SqliteCommands.Create(connection, _queries.SelectLowestDeliveryHold, (Columns.Node, _nodeId), (Columns.Deadline, deadline));
            return command.ExecuteScalar();
        }).ContinueWith(static (task, state) =>
        {
            var holds = (DeliveryHolds)state!;
            Volatile.Write(ref holds._remoteReadInFlight, 0);
            if (task.IsCompletedSuccessfully)
            {
                holds._admission.SetRemoteHold(task.Result is long hold ? hold : null);
            }
            else if (task.Exception?.InnerException is { } error)
            {
                BackplaneEvents.DeliveryHoldReadFailed(holds._logger, error);
            }
        }, this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }
}

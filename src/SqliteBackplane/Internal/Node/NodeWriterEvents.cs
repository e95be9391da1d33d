using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using SqliteBackplane.Internal.Delivery;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Internal.Diagnostics;
using SqliteBackplane.Internal.Flow;

namespace SqliteBackplane.Internal.Node;

/// <summary>
/// What a node does when its writer reports (on the writer thread): after a commit that appended rows, wake this
/// node's reader and the other nodes; after any batch, release direct writes waiting on rows that appended nothing;
/// when the file was replaced, join the new file, write this node's connections back and read it from its end.
/// </summary>
internal sealed class NodeWriterEvents(NodeMembership membership, WakeChannel wake, AppliedCursor cursor, SendAdmission admission,
    CrossProcessWriteLock writeLock, BackplaneMetrics metrics, SqliteBackplaneOptions options, ILogger logger) : IWriterEvents
{
    private static readonly TimeSpan FileProbeInterval = TimeSpan.FromMilliseconds(250);
    private ThrottledCount? _droppedOldestToLog;
    private int _fileProbeScheduled;

    /// <summary>Queues a write on the node's writer (the probe of a failing file).</summary>
    public required Action<WriteOperation> Enqueue { get; init; }

    /// <summary>Cancelled when the node stops.</summary>
    public required CancellationToken Stopping { get; init; }

    /// <summary>Publishes and reads delivery holds (<see cref="SendAdmission"/>); told of every commit that appended rows.</summary>
    public required DeliveryHolds Holds { get; init; }

    /// <summary>The reader and the query worker, which a replaced file resets; set once they exist.</summary>
    public (ReaderLoop Reader, SqliteWorker Queries)? Readers { get; set; }

    public void Committed(WriterContext context)
    {
        if (context.DroppedOldestInBatch > 0)
        {
            ReportDroppedOldest(context.DroppedOldestInBatch);
        }

        if (!context.AppendedInBatch)
        {
            return;
        }

        wake.WakeLocal();
        if (wake.RefreshRequested)
        {
            wake.RefreshRequested = false;
            try
            {
                membership.RefreshEndpoints(context);
            }
            catch (SqliteException ex)
            {
                BackplaneEvents.HeartbeatFailed(logger, ex);
            }
        }

        wake.Notify(membership.RemoteEndpoints, WakeChannel.WakeSignal);
        Holds.Committed(context);
    }

    public void BatchFinished(Exception? fileFailure)
    {
        admission.Progress();
        if (fileFailure is not null && Interlocked.CompareExchange(ref _fileProbeScheduled, 1, 0) == 0)
        {
            _ = ProbeFailingFileAsync();
        }

        if (cursor.HasDeferred)
        {
            // Direct writes may be waiting on operations that appended nothing: let the reader release them.
            wake.WakeLocal();
        }
    }

    public void FileReplaced(SqliteConnection connection)
    {
        var position = membership.Join(connection, writeLock, restoreConnections: true);
        if (Readers is var (reader, queries))
        {
            reader.RequestReset(position);
            queries.Reopen();
        }
    }

    // While the file is failing, new sends fail at once; a small write every FileProbeInterval notices when it works
    // again (the disk has space, the lock was released), so sends resume without waiting for a heartbeat.
    private async Task ProbeFailingFileAsync()
    {
        try
        {
            await Task.Delay(FileProbeInterval, Stopping);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        finally
        {
            Volatile.Write(ref _fileProbeScheduled, 0);
        }

        var probe = new DelegateWriteOperation<int>(w => w.Execute(w.Queries.UpdateHeartbeat, (Columns.Node, w.NodeId), (Columns.Now, w.NowMs)));
        Enqueue(probe);
        // The outcome shows in the writer's FileFailure; the writer has logged a failure.
        await probe.Completion.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private void ReportDroppedOldest(int count)
    {
        metrics.DroppedOldest(count);
        _droppedOldestToLog ??= new ThrottledCount(options.TimeProvider, TimeSpan.FromSeconds(10));
        if (_droppedOldestToLog.Add(count) is > 0 and var dropped)
        {
            BackplaneEvents.LogFullDroppedOldest(logger, dropped, options.MaxLogRows);
        }
    }
}

using System.Diagnostics;
using Microsoft.Extensions.Logging;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane.Internal.Node;

/// <summary>
/// A node's background work on a timer: every <see cref="SqliteBackplaneOptions.HeartbeatInterval"/> a heartbeat and a
/// WAL check (a passive checkpoint that keeps the -wal file under <see cref="SqliteBackplaneOptions.MaxWalSize"/>,
/// <see cref="WalCheckpointer"/>), and every fifth beat the deletion of expired rows (and of resume records past the
/// resume window) in small transactions. Beside each heartbeat, in the same batch, it reads whether a dashboard watches
/// the file (<see cref="NodeStatsPublisher"/>).
/// </summary>
internal sealed class NodeMaintenanceScheduler(SqliteBackplaneOptions options, NodeMembership membership, Action<WriteOperation> enqueue,
    SqliteWorker queries, BackplaneDatabase database, BackplaneMetrics metrics, ILogger logger, NodeStatsPublisher? stats = null)
{
    private const int CleanupBatchSize = 500;
    private const int MaxCleanupBatchesPerCycle = 20;

    public async Task RunAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(options.HeartbeatInterval, options.TimeProvider);
        var cycle = 0;
        var walCheck = Task.CompletedTask;
        try
        {
            while (await timer.WaitForNextTickAsync(stopping))
            {
                cycle++;
                await HeartbeatAsync(stopping);
                // Beside the heartbeat, never in its way: a pass that copies a large log must not make this node late.
                if (walCheck.IsCompleted)
                {
                    walCheck = CheckWalAsync(stopping);
                }

                if (cycle % 5 == 0)
                {
                    await CleanupExpiredAsync(stopping);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            // CheckWalAsync never throws.
            await walCheck;
        }
    }

    public Task HeartbeatAsync() => membership.HeartbeatAsync(enqueue);

    // The heartbeat, and queued right behind it (so the writer commits both in one transaction) the read of the
    // dashboard's watched-until mark: one primary-key lookup, no transaction of its own.
    private async Task HeartbeatAsync(CancellationToken stopping)
    {
        var heartbeat = HeartbeatAsync();
        if (stats is null)
        {
            await heartbeat;
            return;
        }

        var watched = NodeStatsPublisher.CheckWatched();
        enqueue(watched);
        await heartbeat;
        try
        {
            stats.Observe(await watched.Task, stopping);
        }
        catch (Exception)
        {
            // The writer is stopping or failing; the heartbeat has logged it.
        }
    }

    /// <summary>Deletes expired rows (and resume records); a failure while <paramref name="stopping"/> is quiet (the stop cut it short).</summary>
    public async Task CleanupExpiredAsync(CancellationToken stopping = default)
    {
        try
        {
            if (options.EnableResume)
            {
                // Resume records outlive their connection by the resume window, and no longer.
                var windowMs = (long)options.EffectiveResumeWindow.TotalMilliseconds;
                var forget = new DelegateWriteOperation<int>(context =>
                    context.Execute(context.Queries.DeleteExpiredResumable, (Columns.Deadline, context.NowMs - windowMs)));
                enqueue(forget);
                await forget.Task;
            }

            for (var batch = 0; batch < MaxCleanupBatchesPerCycle; batch++)
            {
                // Small separate transactions, so the write lock is never held for long.
                var delete = new DelegateWriteOperation<int>(context =>
                    context.Execute(context.Queries.DeleteExpiredMessages, (Columns.Now, context.NowMs), (Columns.Limit, CleanupBatchSize)));
                enqueue(delete);
                var deleted = await delete.Task;
                if (deleted > 0)
                {
                    BackplaneEvents.ExpiredRowsDeleted(logger, deleted);
                }

                if (deleted < CleanupBatchSize)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (!stopping.IsCancellationRequested)
        {
            BackplaneEvents.CleanupFailed(logger, ex);
        }
        catch (Exception)
        {
            // The node is stopping and its writer no longer takes work: the next process to clean up does it.
        }
    }

    // The checkpoint pass never changes the restart threshold; a quarter of the bound leaves room for the log to grow
    // between two heartbeats, and for a pass that a reader or the lock held off.
    private readonly WalCheckpointer _checkpointer = new(database, options.MaxWalSize / 4);
    private readonly string _walPath = database.Path + "-wal";
    private bool _overBound;

    /// <summary>
    /// Runs a checkpoint pass (unless <see cref="SqliteBackplaneOptions.RunCheckpoints"/> is off) and checks the -wal
    /// file against <see cref="SqliteBackplaneOptions.MaxWalSize"/>. A failure while <paramref name="stopping"/> is quiet.
    /// </summary>
    public async Task CheckWalAsync(CancellationToken stopping = default)
    {
        try
        {
            if (options.RunCheckpoints)
            {
                var started = Stopwatch.GetTimestamp();
                var (pass, pageSize) = await queries.RunAsync(connection => (_checkpointer.Run(connection), _checkpointer.PageSize(connection)), stopping);
                var walBytes = WalFileBytes();
                metrics.WalCheckpointed(pass.Outcome, pass.WriteLocked, pass.LogFrames * pageSize);
                BackplaneEvents.WalCheckpointed(logger, pass.Outcome, pass.CheckpointedFrames, pass.LogFrames, pass.WriteLocked,
                    (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds, walBytes);
            }

            CheckBound(WalFileBytes());
        }
        catch (Exception ex) when (!stopping.IsCancellationRequested)
        {
            BackplaneEvents.CheckpointFailed(logger, ex);
        }
        catch (Exception)
        {
            // The node is stopping: its query connection is closing; another process checkpoints.
        }
    }

    private void CheckBound(long walBytes)
    {
        metrics.WalFileSize(walBytes);
        if (walBytes <= options.MaxWalSize)
        {
            _overBound = false;
            return;
        }

        if (!_overBound)
        {
            // Once per crossing: the file does not shrink by itself, so it stays over until someone truncates it.
            _overBound = true;
            BackplaneEvents.WalOverBound(logger, database.Path, walBytes, options.MaxWalSize, options.RunCheckpoints
                ? "A reader kept one snapshot for longer than a heartbeat (a replicator, a long read transaction of the app) or checkpoints could not keep up with the writes; the file keeps this size, but the log inside it starts over once checkpoints catch up."
                : "RunCheckpoints is off, so the replicator that owns checkpoints must copy the log back and let it start over (docs/litestream.md).");
        }
    }

    private long WalFileBytes()
    {
        try
        {
            var file = new FileInfo(_walPath);
            return file.Exists ? file.Length : 0;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}

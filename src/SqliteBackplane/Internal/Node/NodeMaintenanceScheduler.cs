using Microsoft.Extensions.Logging;
using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane.Internal.Node;

/// <summary>
/// A node's background work on a timer: a heartbeat every <see cref="SqliteBackplaneOptions.HeartbeatInterval"/>, and
/// every fifth beat the deletion of expired rows (and of resume records past the resume window) (in small transactions) and a passive WAL checkpoint.
/// Beside each heartbeat, in the same batch, it reads whether a dashboard watches the file (<see cref="NodeStatsPublisher"/>).
/// </summary>
internal sealed class NodeMaintenanceScheduler(SqliteBackplaneOptions options, NodeMembership membership, Action<WriteOperation> enqueue,
    SqliteWorker queries, ILogger logger, NodeStatsPublisher? stats = null)
{
    private const int CleanupBatchSize = 500;
    private const int MaxCleanupBatchesPerCycle = 20;

    public async Task RunAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(options.HeartbeatInterval, options.TimeProvider);
        var cycle = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(stopping))
            {
                cycle++;
                await HeartbeatAsync(stopping);
                if (cycle % 5 == 0)
                {
                    await CleanupExpiredAsync(stopping);
                    await CheckpointAsync(stopping);
                }
            }
        }
        catch (OperationCanceledException)
        {
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

    private async Task CheckpointAsync(CancellationToken stopping)
    {
        if (!options.RunCheckpoints)
        {
            return;
        }

        try
        {
            // PASSIVE never waits for readers or writers and never truncates the WAL (replicators rely on that).
            await queries.RunAsync(connection =>
            {
                using var command = SqliteCommands.Create(connection, SqliteQueries.PassiveCheckpoint);
                return command.ExecuteNonQuery();
            });
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
}

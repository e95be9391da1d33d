using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane.Maintenance;

/// <summary>
/// Deletes on demand what the live nodes would delete on their timers: expired message rows, and dead nodes with
/// their connections and group memberships. Writes run in short transactions inside the nodes' cross-process lock.
/// </summary>
internal sealed class MaintenanceCleanup(MaintenanceFile file)
{
    /// <summary>Rows deleted per write transaction, as the nodes' own cleanup does.</summary>
    internal const int DeleteBatchSize = 500;

    /// <summary>
    /// Deletes every message row past its expiry now, in transactions of at most 500 rows, releasing the write lock
    /// between them so that live nodes keep writing. Rows that have not expired are never touched.
    /// </summary>
    /// <param name="cancellationToken">Stops between transactions; rows already deleted stay deleted.</param>
    /// <returns>The number of rows deleted.</returns>
    /// <exception cref="InvalidOperationException">The file is missing, not a SQLite database, or has no backplane tables with the prefix.</exception>
    /// <exception cref="TimeoutException">The write lock stayed taken longer than <see cref="SqliteBackplaneOptions.BusyTimeout"/>.</exception>
    public Task<int> DeleteExpiredMessagesAsync(CancellationToken cancellationToken = default) =>
        MaintenanceFile.RunAsync(token =>
        {
            using var connection = file.OpenBackplane();
            using var writeLock = new CrossProcessWriteLock(file.DatabasePath);
            using var context = file.NewWriterContext(connection);
            var total = 0;
            while (true)
            {
                token.ThrowIfCancellationRequested();
                var deleted = file.InWriteTransaction(writeLock, context, () =>
                    context.Execute(file.Queries.DeleteExpiredMessages, (Columns.Now, context.NowMs), (Columns.Limit, DeleteBatchSize)));
                total += deleted;
                if (deleted < DeleteBatchSize)
                {
                    return total;
                }

                // flock is not fair: pause so a waiting node writer takes the lock before the next batch.
                Thread.Sleep(1);
            }
        }, cancellationToken);

    /// <summary>
    /// Removes now every node whose heartbeat is older than <see cref="SqliteBackplaneOptions.NodeTimeout"/>, with its
    /// connections and group memberships, exactly as a live node's reaper would: each removal appends a NodeGone row, so
    /// client results waiting on that node fail at once in every process. One transaction per node.
    /// </summary>
    /// <param name="cancellationToken">Stops between nodes; nodes already removed stay removed.</param>
    /// <returns>The nodes removed, each with the number of connections removed with it.</returns>
    /// <exception cref="InvalidOperationException">The file is missing, not a SQLite database, or has no backplane tables with the prefix.</exception>
    /// <exception cref="TimeoutException">The write lock stayed taken longer than <see cref="SqliteBackplaneOptions.BusyTimeout"/>.</exception>
    public Task<IReadOnlyList<SqliteBackplaneNodeStatus>> DeleteDeadNodesAsync(CancellationToken cancellationToken = default) =>
        MaintenanceFile.RunAsync<IReadOnlyList<SqliteBackplaneNodeStatus>>(token =>
        {
            using var connection = file.OpenBackplane();
            using var writeLock = new CrossProcessWriteLock(file.DatabasePath);
            using var context = file.NewWriterContext(connection);
            var removed = new List<SqliteBackplaneNodeStatus>();
            while (true)
            {
                token.ThrowIfCancellationRequested();

                // Read and delete in the same transaction, so a node that heartbeats in between is never removed.
                var gone = file.InWriteTransaction(writeLock, context, () =>
                {
                    var dead = file.ReadNodes(connection, context.NowMs).FirstOrDefault(n => !n.Status.IsLive);
                    if (dead.Status is null)
                    {
                        return default;
                    }

                    var connections = NodeRowRemoval.Remove(context, dead.Status.NodeId, reaped: true, file.EnableResume);
                    return (Status: WithConnectionCount(dead.Status, connections), dead.WakeEndpoint);
                });

                if (gone.Status is null)
                {
                    return removed;
                }

                removed.Add(gone.Status);
                WakeEndpoints.DeleteStale(gone.WakeEndpoint);
            }
        }, cancellationToken);

    private static SqliteBackplaneNodeStatus WithConnectionCount(SqliteBackplaneNodeStatus node, int connections) => new()
    {
        NodeId = node.NodeId,
        MachineName = node.MachineName,
        ProcessId = node.ProcessId,
        StartedAt = node.StartedAt,
        LastHeartbeat = node.LastHeartbeat,
        HeartbeatAge = node.HeartbeatAge,
        IsLive = false,
        ConnectionCount = connections,
    };
}

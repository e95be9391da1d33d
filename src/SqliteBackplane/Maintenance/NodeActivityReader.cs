using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane.Maintenance;

/// <summary>What <c>sqlite-backplane top</c> shows each second: the nodes, their published figures and the log's last id.</summary>
internal sealed record NodeActivity(
    long CapturedAtMs,
    IReadOnlyList<SqliteBackplaneNodeStatus> Nodes,
    Dictionary<string, (long UpdatedAt, NodeFigures Figures)> Figures,
    long? FirstId,
    long? LastId);

/// <summary>Reads the nodes' activity for <c>sqlite-backplane top</c>, optionally marking the file watched so the nodes publish their figures.</summary>
internal sealed class NodeActivityReader(MaintenanceFile file)
{
    /// <summary>
    /// Reads the nodes, the figures they publish and the log's bounds. With <paramref name="markWatched"/>, first marks the
    /// file watched (one short write transaction: the meta table's mark, and the node_stats table created when missing),
    /// so every live node publishes its figures for the next few seconds, as it does while a dashboard page is open.
    /// </summary>
    public Task<NodeActivity> ReadActivityAsync(bool markWatched, CancellationToken cancellationToken = default) =>
        MaintenanceFile.RunAsync(_ =>
        {
            using var connection = file.OpenBackplane();
            if (markWatched)
            {
                using var writeLock = new CrossProcessWriteLock(file.DatabasePath);
                using var context = file.NewWriterContext(connection);
                file.InWriteTransaction(writeLock, context, () =>
                {
                    NodeStatsRows.MarkWatched(context, createTable: true);
                    return 0;
                });
            }

            var now = file.NowMs();
            return file.Read(() =>
            {
                long? first, last;
                using (var command = MaintenanceFile.Command(connection, file.Queries.SelectLogSummary))
                using (var reader = command.ExecuteReader())
                {
                    reader.Read();
                    first = reader.IsDBNull(Columns.LogSummary.FirstId) ? null : reader.GetInt64(Columns.LogSummary.FirstId);
                    last = reader.IsDBNull(Columns.LogSummary.LastId) ? null : reader.GetInt64(Columns.LogSummary.LastId);
                }

                var nodes = file.ReadNodes(connection, now).Select(n => n.Status).ToList();
                return new NodeActivity(now, nodes, NodeStatsRows.ReadFigures(connection, file.Queries), first, last);
            });
        }, cancellationToken);
}

using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane.Maintenance;

internal sealed partial class SqliteBackplaneMaintenance
{
    /// <summary>What <c>sqlite-backplane top</c> shows each second: the nodes, their published figures and the log's last id.</summary>
    internal sealed record Activity(
        long CapturedAtMs,
        IReadOnlyList<SqliteBackplaneNodeStatus> Nodes,
        Dictionary<string, (long UpdatedAt, NodeFigures Figures)> Figures,
        long? FirstId,
        long? LastId);

    /// <summary>
    /// Reads the nodes, the figures they publish and the log's bounds. With <paramref name="markWatched"/>, first marks the
    /// file watched (one short write transaction: the meta table's mark, and the node_stats table created when missing),
    /// so every live node publishes its figures for the next few seconds, as it does while a dashboard page is open.
    /// </summary>
    internal Task<Activity> ReadActivityAsync(bool markWatched, CancellationToken cancellationToken = default) =>
        RunAsync(_ =>
        {
            using var connection = OpenBackplane();
            if (markWatched)
            {
                using var writeLock = new CrossProcessWriteLock(_database.Path);
                using var context = NewWriterContext(connection);
                InWriteTransaction(writeLock, context, () =>
                {
                    NodeStatsRows.MarkWatched(context, createTable: true);
                    return 0;
                });
            }

            var now = NowMs();
            return Read(() =>
            {
                long? first, last;
                using (var command = Command(connection, Queries.SelectLogSummary))
                using (var reader = command.ExecuteReader())
                {
                    reader.Read();
                    first = reader.IsDBNull(Columns.LogSummary.FirstId) ? null : reader.GetInt64(Columns.LogSummary.FirstId);
                    last = reader.IsDBNull(Columns.LogSummary.LastId) ? null : reader.GetInt64(Columns.LogSummary.LastId);
                }

                var nodes = ReadNodes(connection, now).Select(n => n.Status).ToList();
                return new Activity(now, nodes, NodeStatsRows.ReadFigures(connection, Queries), first, last);
            });
        }, cancellationToken);
}

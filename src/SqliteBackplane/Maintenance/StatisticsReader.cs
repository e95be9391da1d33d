using System.Globalization;
using Microsoft.Data.Sqlite;
using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane.Maintenance;

/// <summary>Reports what a backplane file holds: row counts, sizes, the oldest row's age, the schema version and the nodes. Never writes.</summary>
internal sealed class StatisticsReader(MaintenanceFile file)
{
    /// <summary>Lists every node on the file, live or not, with its heartbeat age and connection count.</summary>
    /// <param name="cancellationToken">Cancels the call before it reads.</param>
    /// <returns>The nodes, ordered by start time.</returns>
    /// <exception cref="InvalidOperationException">The file is missing, not a SQLite database, or has no backplane tables with the prefix.</exception>
    public Task<IReadOnlyList<SqliteBackplaneNodeStatus>> GetNodesAsync(CancellationToken cancellationToken = default) =>
        MaintenanceFile.RunAsync<IReadOnlyList<SqliteBackplaneNodeStatus>>(_ =>
        {
            using var connection = file.OpenBackplane();
            return file.Read(() => file.ReadNodes(connection, file.NowMs()).Select(n => n.Status).ToList());
        }, cancellationToken);

    /// <summary>
    /// Reports row counts per table, file and WAL sizes, the oldest row's age, the nodes and the schema version. The
    /// counts come from one short read transaction; nothing is written.
    /// </summary>
    /// <param name="cancellationToken">Cancels the call before it reads.</param>
    /// <returns>The statistics.</returns>
    /// <exception cref="InvalidOperationException">The file is missing, not a SQLite database, or has no backplane tables with the prefix.</exception>
    public Task<SqliteBackplaneStatistics> GetStatisticsAsync(CancellationToken cancellationToken = default) =>
        MaintenanceFile.RunAsync(_ =>
        {
            using var connection = file.OpenBackplane();
            var now = file.NowMs();
            return file.Read(() =>
            {
                MaintenanceFile.Execute(connection, SqliteQueries.BeginRead);
                try
                {
                    using var command = MaintenanceFile.Command(connection, file.Queries.SelectStatistics, (Columns.Now, now));
                    using var reader = command.ExecuteReader();
                    reader.Read();
                    long? oldestCreatedAt = NullableInt64(reader, Columns.Statistics.OldestCreatedAt);
                    var version = reader.IsDBNull(Columns.Statistics.SchemaVersion) ? "0" : reader.GetString(Columns.Statistics.SchemaVersion);
                    var nodes = file.ReadNodes(connection, now).Select(n => n.Status).ToList();
                    var (pageCount, freePages, pageSize) = ReadPages(connection);
                    return new SqliteBackplaneStatistics
                    {
                        DatabasePath = file.DatabasePath,
                        TablePrefix = file.TablePrefix,
                        SchemaVersion = int.TryParse(version, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) ? parsed : 0,
                        CapturedAt = DateTimeOffset.FromUnixTimeMilliseconds(now),
                        FileSizeBytes = Math.Max(MaintenanceFile.FileLength(file.DatabasePath), pageCount * pageSize),
                        WalSizeBytes = MaintenanceFile.FileLength(file.DatabasePath + "-wal"),
                        FreeBytes = freePages * pageSize,
                        MessageCount = reader.GetInt64(Columns.Statistics.MessageCount),
                        ExpiredMessageCount = reader.GetInt64(Columns.Statistics.ExpiredMessageCount),
                        FirstMessageId = NullableInt64(reader, Columns.Statistics.FirstMessageId),
                        LastMessageId = NullableInt64(reader, Columns.Statistics.LastMessageId),
                        OldestMessageAge = oldestCreatedAt is { } created ? TimeSpan.FromMilliseconds(Math.Max(0, now - created)) : null,
                        NodeCount = reader.GetInt64(Columns.Statistics.NodeCount),
                        ConnectionCount = reader.GetInt64(Columns.Statistics.ConnectionCount),
                        GroupMembershipCount = reader.GetInt64(Columns.Statistics.GroupMembershipCount),
                        Nodes = nodes,
                    };
                }
                finally
                {
                    MaintenanceFile.Execute(connection, SqliteQueries.Commit);
                }
            });
        }, cancellationToken);

    private static long? NullableInt64(SqliteDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetInt64(ordinal);

    private static (long PageCount, long FreePages, long PageSize) ReadPages(SqliteConnection connection)
    {
        using var command = MaintenanceFile.Command(connection, SqliteQueries.SelectPageStatistics);
        using var reader = command.ExecuteReader();
        reader.Read();
        return (reader.GetInt64(Columns.PageStatistics.PageCount), reader.GetInt64(Columns.PageStatistics.FreePages), reader.GetInt64(Columns.PageStatistics.PageSize));
    }
}

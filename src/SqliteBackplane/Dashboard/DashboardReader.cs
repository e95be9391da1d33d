using Microsoft.Data.Sqlite;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane.Dashboard;

/// <summary>
/// The dashboard's reads, run on the node's query thread once a second while a page is open: the log's bounds (from the
/// primary key, no scan), the nodes and their published figures, each hub's connections, users and largest groups, and
/// the newest rows for the tail. Nothing here writes.
/// </summary>
internal sealed class DashboardReader(SqliteQueries queries, PayloadProtection? protection, bool showPayloads)
{
    public const int LargestGroups = 20;

    public sealed record NodeRow(string NodeId, string Machine, int Pid, long StartedAt, long HeartbeatAt, int Connections);

    public sealed record Read(
        long? FirstId, long? LastId, long? OldestCreatedAt,
        List<NodeRow> Nodes, Dictionary<string, (long UpdatedAt, NodeFigures Figures)> Figures,
        List<DashboardHub> Hubs, List<DashboardTailRow> Tail);

    /// <summary>Reads everything; tail rows after <paramref name="tailAfter"/>, at most <paramref name="tailCount"/> of the newest.</summary>
    public Read ReadAll(SqliteConnection connection, long tailAfter, int tailCount)
    {
        long? firstId, lastId, oldest;
        using (var command = SqliteCommands.Create(connection, queries.SelectLogSummary))
        using (var reader = command.ExecuteReader())
        {
            reader.Read();
            firstId = NullableLong(reader, Columns.LogSummary.FirstId);
            lastId = NullableLong(reader, Columns.LogSummary.LastId);
            oldest = NullableLong(reader, Columns.LogSummary.OldestCreatedAt);
        }

        var nodes = new List<NodeRow>();
        // Its IsLive column is not read: the page shows heartbeat age, and a node stays listed until a reaper removes it.
        using (var command = SqliteCommands.Create(connection, queries.SelectNodeStatus, (Columns.Deadline, 0L)))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                nodes.Add(new NodeRow(reader.GetString(Columns.NodeStatus.NodeId), reader.GetString(Columns.NodeStatus.MachineName),
                    reader.GetInt32(Columns.NodeStatus.ProcessId), reader.GetInt64(Columns.NodeStatus.StartedAt),
                    reader.GetInt64(Columns.NodeStatus.HeartbeatAt), reader.GetInt32(Columns.NodeStatus.ConnectionCount)));
            }
        }

        var tail = new List<DashboardTailRow>();
        var newest = lastId ?? 0;
        var cursor = Math.Max(tailAfter, newest - tailCount);
        if (newest > cursor)
        {
            using var command = SqliteCommands.Create(connection, queries.SelectLogAfter, (Columns.Cursor, cursor), (Columns.Limit, tailCount));
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                tail.Add(TailRowAdapter.Map(reader.GetInt64(Columns.LogRow.Id), reader.GetString(Columns.LogRow.Hub), reader.GetInt32(Columns.LogRow.Kind),
                    reader.GetString(Columns.LogRow.NodeId), reader.GetInt64(Columns.LogRow.CreatedAt), (byte[])reader.GetValue(Columns.LogRow.Body),
                    protection, showPayloads));
            }
        }

        return new Read(firstId, lastId, oldest, nodes, NodeStatsRows.ReadFigures(connection, queries), ReadHubs(connection), tail);
    }

    /// <summary>A hub's largest groups whose name contains <paramref name="search"/> (all when null).</summary>
    public List<DashboardGroup> ReadGroups(SqliteConnection connection, string hub, string? search)
    {
        using var command = SqliteCommands.Create(connection, queries.SelectLargestGroups,
            (Columns.Hub, hub), (Columns.Value, string.IsNullOrEmpty(search) ? null : search), (Columns.Limit, LargestGroups));
        using var reader = command.ExecuteReader();
        var groups = new List<DashboardGroup>();
        while (reader.Read())
        {
            groups.Add(new DashboardGroup(reader.GetString(Columns.GroupSize.Name), reader.GetInt64(Columns.GroupSize.Size)));
        }

        return groups;
    }

    private List<DashboardHub> ReadHubs(SqliteConnection connection)
    {
        var hubs = new List<DashboardHub>();
        using (var command = SqliteCommands.Create(connection, queries.SelectHubSummaries))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                hubs.Add(new DashboardHub(reader.GetString(Columns.HubSummary.Hub), reader.GetInt64(Columns.HubSummary.Connections),
                    reader.GetInt64(Columns.HubSummary.Users), []));
            }
        }

        return [.. hubs.Select(h => h with { Groups = ReadGroups(connection, h.Hub, null) })];
    }

    private static long? NullableLong(SqliteDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetInt64(ordinal);
}

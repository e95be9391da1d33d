using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// The node_stats table and the meta table's watched-until mark, as watchers (the dashboard, <c>sqlite-backplane top</c>)
/// use them: <see cref="MarkWatched"/> asks every node to publish its figures until a time; <see cref="ReadFigures"/>
/// reads what they published. The nodes' side is <c>NodeStatsPublisher</c>.
/// </summary>
internal static class NodeStatsRows
{
    /// <summary>How long one mark keeps the nodes publishing; a watcher renews it well before.</summary>
    public static readonly TimeSpan WatchLease = TimeSpan.FromSeconds(6);

    /// <summary>
    /// Marks the file watched until <see cref="WatchLease"/> from now, in the caller's write transaction. With
    /// <paramref name="createTable"/>, creates the table when missing (additive) and removes rows of nodes that are gone.
    /// </summary>
    public static void MarkWatched(WriterContext context, bool createTable)
    {
        if (createTable)
        {
            context.Execute(context.Queries.CreateNodeStats);
        }

        var until = context.NowMs + (long)WatchLease.TotalMilliseconds;
        context.Execute(context.Queries.UpsertWatchedUntil, (Columns.Value, until.ToString(CultureInfo.InvariantCulture)));
        if (createTable)
        {
            context.Execute(context.Queries.DeleteOrphanNodeStats);
        }
    }

    /// <summary>Every node's last published figures with when they were written (Unix ms); empty when the table does not exist.</summary>
    public static Dictionary<string, (long UpdatedAt, NodeFigures Figures)> ReadFigures(SqliteConnection connection, SqliteQueries queries)
    {
        var figures = new Dictionary<string, (long, NodeFigures)>(StringComparer.Ordinal);
        using (var exists = SqliteCommands.Create(connection, queries.CountNodeStatsTable))
        {
            if (Convert.ToInt64(exists.ExecuteScalar(), CultureInfo.InvariantCulture) == 0)
            {
                return figures;
            }
        }

        using var command = SqliteCommands.Create(connection, queries.SelectNodeStats);
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            try
            {
                if (JsonSerializer.Deserialize(reader.GetString(Columns.NodeStatsRow.Figures), NodeFiguresJson.Default.NodeFigures) is { } parsed)
                {
                    figures[reader.GetString(Columns.NodeStatsRow.NodeId)] = (reader.GetInt64(Columns.NodeStatsRow.UpdatedAt), parsed);
                }
            }
            catch (JsonException)
            {
                // A node of another version wrote something this one cannot read: shown without figures.
            }
        }

        return figures;
    }
}

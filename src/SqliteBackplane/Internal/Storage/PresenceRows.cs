using System.Globalization;
using SqliteBackplane.Internal.Messaging;

namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// Appends the presence rows (<see cref="MessageKind.ConnectionJoined"/>, <see cref="MessageKind.ConnectionLeft"/>,
/// <see cref="MessageKind.NodeJoined"/>) in the transaction that changes the tables, so every process reads the same
/// changes in the same order. Whether a change is a user's first or last connection is decided here, against the
/// connections table as the transaction leaves it.
/// </summary>
internal static class PresenceRows
{
    // A node leaving with many connections writes several rows rather than one huge one.
    private const int MaxConnectionsPerRow = 500;

    /// <summary>A connection in a presence row; <see cref="UserId"/> is "" for none.</summary>
    public readonly record struct Entry(string ConnectionId, string UserId, bool UserFlagged);

    /// <summary>Upserts a connection row and, when the connection was not registered yet, appends its ConnectionJoined row.</summary>
    public static bool Register(WriterContext context, string hub, string connectionId, string? userId)
    {
        var queries = context.Queries;
        var known = context.Scalar(queries.SelectConnectionUser, (Columns.Hub, hub), (Columns.Connection, connectionId)) is not null;
        var changed = context.Execute(queries.UpsertConnection, (Columns.Hub, hub), (Columns.Connection, connectionId), (Columns.User, userId),
            (Columns.Node, context.NodeId), (Columns.Now, context.NowMs)) > 0;
        if (!known)
        {
            var first = !string.IsNullOrEmpty(userId) && UserConnections(context, hub, userId) == 1;
            Append(context, hub, MessageKind.ConnectionJoined, context.NodeId, [new Entry(connectionId, userId ?? "", first)]);
        }

        return changed;
    }

    /// <summary>
    /// Appends ConnectionLeft rows for connections already deleted, of <paramref name="nodeId"/>, grouped by hub; a user
    /// left when none of their connections to the hub remains (flagged on their last entry).
    /// </summary>
    public static void Left(WriterContext context, string nodeId, IReadOnlyList<(string Hub, string ConnectionId, string UserId)> removed)
    {
        foreach (var hubGroup in removed.GroupBy(r => r.Hub, StringComparer.Ordinal))
        {
            var entries = hubGroup.Select(r => new Entry(r.ConnectionId, r.UserId, false)).ToList();
            var lastOfUser = new Dictionary<string, int>(StringComparer.Ordinal);
            for (var i = 0; i < entries.Count; i++)
            {
                if (entries[i].UserId.Length > 0)
                {
                    lastOfUser[entries[i].UserId] = i;
                }
            }

            foreach (var (user, index) in lastOfUser)
            {
                if (UserConnections(context, hubGroup.Key, user) == 0)
                {
                    entries[index] = entries[index] with { UserFlagged = true };
                }
            }

            Append(context, hubGroup.Key, MessageKind.ConnectionLeft, nodeId, entries);
        }
    }

    /// <summary>Appends the NodeJoined row of the writing node.</summary>
    public static void NodeJoined(WriterContext context) =>
        context.AppendMessage("", MessageKind.NodeJoined, EnvelopeProtocol.Write(new NodeJoinedRow { NodeId = context.NodeId }));

    private static long UserConnections(WriterContext context, string hub, string userId) =>
        Convert.ToInt64(context.Scalar(context.Queries.CountUserConnections, (Columns.Hub, hub), (Columns.User, userId)), CultureInfo.InvariantCulture);

    private static void Append(WriterContext context, string hub, MessageKind kind, string nodeId, IReadOnlyList<Entry> entries)
    {
        foreach (var chunk in entries.Chunk(MaxConnectionsPerRow))
        {
            var connections = new PresenceConnection[chunk.Length];
            for (var i = 0; i < chunk.Length; i++)
            {
                connections[i] = new PresenceConnection(chunk[i].ConnectionId, chunk[i].UserId.Length == 0 ? null : chunk[i].UserId, chunk[i].UserFlagged);
            }

            var row = new PresenceRow { Joined = kind == MessageKind.ConnectionJoined, NodeId = nodeId, Connections = connections };
            context.AppendMessage(hub, kind, EnvelopeProtocol.Write(row));
        }
    }
}

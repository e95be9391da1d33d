using SqliteBackplane.Internal.Messaging;

namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// Removes a node from the file: the reaper of every live node, graceful shutdown and
/// <c>MaintenanceCleanup.DeleteDeadNodesAsync</c> all go through here, so they leave the same trace.
/// </summary>
internal static class NodeRowRemoval
{
    /// <summary>
    /// Deletes the node with its connections and groups, and appends <see cref="MessageKind.ConnectionLeft"/> rows for its
    /// connections and then a <see cref="MessageKind.NodeGone"/> row, so every reader fails what waits on it (client
    /// results) and presence subscribers see who left. <paramref name="reaped"/>: another node (or the maintenance API)
    /// removes it, not the node itself. With <paramref name="markResumable"/> (resume enabled), the resume records of its
    /// connections are marked departed first. Runs inside the caller's write transaction. Returns the number of
    /// connections removed.
    /// </summary>
    public static int Remove(WriterContext context, string nodeId, bool reaped, bool markResumable)
    {
        var queries = context.Queries;
        if (markResumable)
        {
            // Before the rows go: connections that opted in to resume leave their records (time and groups) behind.
            context.Execute(queries.MarkDepartedOfNode, (Columns.Now, context.NowMs), (Columns.Node, nodeId));
        }

        var leaving = new List<(string Hub, string ConnectionId, string UserId)>();
        using (var reader = context.Command(queries.SelectConnectionsOfNode, [(Columns.Node, nodeId)]).ExecuteReader())
        {
            while (reader.Read())
            {
                leaving.Add((reader.GetString(Columns.ConnectionOfNode.Hub), reader.GetString(Columns.ConnectionOfNode.ConnectionId), reader.GetString(Columns.ConnectionOfNode.UserId)));
            }
        }

        context.Execute(queries.DeleteGroupsOfNode, (Columns.Node, nodeId));
        var connections = context.Execute(queries.DeleteConnectionsOfNode, (Columns.Node, nodeId));
        context.Execute(queries.DeleteNode, (Columns.Node, nodeId));
        PresenceRows.Left(context, nodeId, leaving);
        var gone = new NodeGoneRow { NodeId = nodeId, ReapedBy = reaped ? context.NodeId : null };
        context.AppendMessage("", MessageKind.NodeGone, EnvelopeProtocol.Write(gone));
        return connections;
    }
}

using SqliteBackplane.Internal.Messaging;

namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// Removes a node from the file: the reaper of every live node, graceful shutdown and
/// <c>SqliteBackplaneMaintenance.DeleteDeadNodesAsync</c> all go through here, so they leave the same trace.
/// </summary>
internal static class NodeRowRemoval
{
    /// <summary>
    /// Deletes the node with its connections and groups, and appends a <see cref="MessageKind.NodeGone"/> row so every
    /// reader fails what waits on it (client results). With <paramref name="markResumable"/> (resume enabled), the
    /// resume records of its connections are marked departed first. Runs inside the caller's write transaction. Returns the number of
    /// connections removed.
    /// </summary>
    public static int Remove(WriterContext context, string nodeId, bool markResumable)
    {
        var queries = context.Queries;
        if (markResumable)
        {
            // Before the rows go: connections that opted in to resume leave their records (time and groups) behind.
            context.Execute(queries.MarkDepartedOfNode, (Columns.Now, context.NowMs), (Columns.Node, nodeId));
        }

        context.Execute(queries.DeleteGroupsOfNode, (Columns.Node, nodeId));
        var connections = context.Execute(queries.DeleteConnectionsOfNode, (Columns.Node, nodeId));
        context.Execute(queries.DeleteNode, (Columns.Node, nodeId));
        context.AppendMessage("", MessageKind.NodeGone, EnvelopeProtocol.Write(new Envelope { Kind = MessageKind.NodeGone, Targets = [nodeId] }));
        return connections;
    }
}

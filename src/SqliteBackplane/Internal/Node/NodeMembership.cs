using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using SqliteBackplane.Internal.Delivery;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane.Internal.Node;

/// <summary>
/// This node's place on the file: joining it (WAL, schema, the node row), the heartbeat that proves it is alive,
/// revival when other nodes declared it dead (its row, connections and groups are written back), reaping nodes that
/// fell silent, and the wake endpoints of the live ones.
/// </summary>
internal sealed class NodeMembership(string nodeId, BackplaneDatabase database, RowDispatcher hubs, ILogger logger, ResumeTokens resumeTokens)
{
    private readonly SqliteBackplaneOptions _options = database.Options;
    private long _startedAtMs;
    private Peers _peers = Peers.None;
    private int _liveNodes = 1;

    /// <summary>Where other nodes wake this one; set before joining, so the node row carries it.</summary>
    public string? WakeEndpoint { get; set; }

    /// <summary>The wake endpoints of the other live nodes, as last read.</summary>
    public IReadOnlyList<string> RemoteEndpoints => Volatile.Read(ref _peers).Endpoints;

    /// <summary>The other live nodes, as last read.</summary>
    public IReadOnlyList<PeerNode> RemoteNodes => Volatile.Read(ref _peers).Nodes;

    /// <summary>Whether the file's nodes table has the delivery_hold column (<see cref="DeliveryHolds"/>), as of the last join.</summary>
    public bool HasDeliveryHolds { get; private set; }

    /// <summary>Called after each heartbeat that committed.</summary>
    public Action? HeartbeatWritten { get; set; }

    /// <summary>Nodes registered on the file at the last heartbeat, this one included.</summary>
    public int LiveNodes => Volatile.Read(ref _liveNodes);

    /// <summary>
    /// Sets the file up (WAL mode, schema) and registers this node, in one write transaction on
    /// <paramref name="connection"/>; returns the log position reading starts from (the current end). With
    /// <paramref name="restoreConnections"/> (a replaced file), this node's connections and groups are written back too.
    /// </summary>
    public long Join(SqliteConnection connection, CrossProcessWriteLock writeLock, bool restoreConnections)
    {
        SchemaSetup.EnableWal(connection, database.Path);
        using var context = NewWriterContext(connection);
        using var transaction = new WriteTransaction(connection, writeLock, _options.BusyTimeout, database.Path, logger);
        return transaction.Run(() =>
        {
            SchemaSetup.EnsureSchema(connection, database.Queries, _options.AutoCreateSchema, database.Path, _options.EnableResume);
            HasDeliveryHolds = SchemaSetup.EnsureDeliveryHoldColumn(connection, database.Queries, _options.AutoCreateSchema);
            if (_startedAtMs == 0)
            {
                _startedAtMs = context.NowMs;
            }

            Register(context);
            if (_options.EnableResume)
            {
                resumeTokens.EnsureKey(context, reload: true);
            }

            if (restoreConnections)
            {
                RestoreLocalConnections(context);
            }

            return (long)context.Scalar(database.Queries.SelectMaxMessageId)!;
        });
    }

    /// <summary>Reads the other nodes' wake endpoints again (one of them asked for a refresh). Writer thread.</summary>
    public void RefreshEndpoints(WriterContext context) => Volatile.Write(ref _peers, ReadPeers(context));

    /// <summary>Runs one heartbeat through <paramref name="enqueue"/> (the writer) and reports what it found.</summary>
    public async Task HeartbeatAsync(Action<WriteOperation> enqueue)
    {
        var heartbeat = new DelegateWriteOperation<HeartbeatResult>(Heartbeat);
        try
        {
            enqueue(heartbeat);
            var result = await heartbeat.Task;
            Volatile.Write(ref _peers, result.Peers);
            Volatile.Write(ref _liveNodes, result.LiveNodes);
            foreach (var dead in result.Reaped)
            {
                BackplaneEvents.NodeReaped(logger, dead.NodeId, dead.Connections, _options.NodeTimeout);
                WakeEndpoints.DeleteStale(dead.Endpoint);
            }

            if (result.Revived > 0)
            {
                BackplaneEvents.NodeRevived(logger, nodeId, result.Revived);
            }

            HeartbeatWritten?.Invoke();
        }
        catch (Exception ex)
        {
            BackplaneEvents.HeartbeatFailed(logger, ex);
        }
    }

    /// <summary>The operation that removes this node from the file at shutdown; returns the connections removed.</summary>
    public WriteOperation<int> Leave() => new DelegateWriteOperation<int>(context => NodeRowRemoval.Remove(context, nodeId, reaped: false, _options.EnableResume));

    /// <summary>
    /// The operation that removes the nodes among <paramref name="gone"/> that are still registered (another node may
    /// have removed them first) and reads the other nodes again; the result lists the nodes it removed.
    /// </summary>
    public WriteOperation<IReadOnlyList<ReapedNode>> ReapGone(IReadOnlyList<PeerNode> gone) => new DelegateWriteOperation<IReadOnlyList<ReapedNode>>(context =>
    {
        var reaped = new List<ReapedNode>(gone.Count);
        foreach (var peer in gone)
        {
            if (context.Scalar(context.Queries.SelectNodeProcess, (Columns.Node, peer.NodeId)) is not null)
            {
                reaped.Add(new ReapedNode(peer.NodeId, peer.Endpoint, NodeRowRemoval.Remove(context, peer.NodeId, reaped: true, _options.EnableResume)));
            }
        }

        Volatile.Write(ref _peers, ReadPeers(context));
        return reaped;
    });

    /// <summary>Another live node as read from the nodes table.</summary>
    public sealed record PeerNode(string NodeId, string MachineName, int ProcessId, string? Endpoint);

    /// <summary>A node removed from the file, with the number of its connections removed with it.</summary>
    public sealed record ReapedNode(string NodeId, string? Endpoint, int Connections);

    private sealed record Peers(PeerNode[] Nodes, string[] Endpoints)
    {
        public static readonly Peers None = new([], []);
    }

    private sealed record HeartbeatResult(Peers Peers, List<ReapedNode> Reaped, int Revived, int LiveNodes);

    // One transaction: prove we are alive, re-register if others declared us dead, and reap nodes that are silent.
    private HeartbeatResult Heartbeat(WriterContext context)
    {
        var queries = context.Queries;
        var revived = 0;
        if (context.Execute(queries.UpdateHeartbeat, (Columns.Node, nodeId), (Columns.Now, context.NowMs)) == 0)
        {
            Register(context);
            revived = RestoreLocalConnections(context);
        }

        var deadline = NodeLiveness.Deadline(context.NowMs, _options.NodeTimeout);
        var dead = new List<(string NodeId, string? Endpoint)>();
        using (var reader = context.Command(queries.SelectDeadNodes, [(Columns.Deadline, deadline), (Columns.Node, nodeId)]).ExecuteReader())
        {
            while (reader.Read())
            {
                dead.Add((reader.GetString(Columns.DeadNode.NodeId), reader.IsDBNull(Columns.DeadNode.Endpoint) ? null : reader.GetString(Columns.DeadNode.Endpoint)));
            }
        }

        var reaped = new List<ReapedNode>(dead.Count);
        foreach (var (deadNodeId, endpoint) in dead)
        {
            reaped.Add(new ReapedNode(deadNodeId, endpoint, NodeRowRemoval.Remove(context, deadNodeId, reaped: true, _options.EnableResume)));
        }

        var liveNodes = Convert.ToInt32(context.Scalar(queries.CountNodes), System.Globalization.CultureInfo.InvariantCulture);
        return new HeartbeatResult(ReadPeers(context), reaped, revived, liveNodes);
    }

    private void Register(WriterContext context)
    {
        context.Execute(context.Queries.UpsertNode,
            (Columns.Node, nodeId),
            (Columns.Machine, Environment.MachineName),
            (Columns.Pid, Environment.ProcessId),
            (Columns.Started, _startedAtMs),
            (Columns.Now, context.NowMs),
            (Columns.Endpoint, WakeEndpoint));
        PresenceRows.NodeJoined(context);
        Volatile.Write(ref _peers, ReadPeers(context));
    }

    private Peers ReadPeers(WriterContext context)
    {
        using var reader = context.Command(context.Queries.SelectPeers, [(Columns.Node, nodeId)]).ExecuteReader();
        var nodes = new List<PeerNode>();
        var endpoints = new List<string>();
        while (reader.Read())
        {
            var endpoint = reader.IsDBNull(Columns.Peer.Endpoint) ? null : reader.GetString(Columns.Peer.Endpoint);
            nodes.Add(new PeerNode(reader.GetString(Columns.Peer.NodeId), reader.GetString(Columns.Peer.MachineName), reader.GetInt32(Columns.Peer.ProcessId), endpoint));
            if (endpoint is not null)
            {
                endpoints.Add(endpoint);
            }
        }

        return new Peers([.. nodes], [.. endpoints]);
    }

    private int RestoreLocalConnections(WriterContext context)
    {
        var queries = context.Queries;
        var restored = 0;
        foreach (var (hub, handler) in hubs.Hubs)
        {
            foreach (var connection in handler.SnapshotLocalConnections())
            {
                PresenceRows.Register(context, hub, connection.ConnectionId, connection.UserId);
                foreach (var group in connection.Groups)
                {
                    context.Execute(queries.InsertGroupMember, (Columns.Hub, hub), (Columns.Group, group), (Columns.Connection, connection.ConnectionId));
                }

                restored++;
            }
        }

        return restored;
    }

    private WriterContext NewWriterContext(SqliteConnection connection) =>
        new(connection, database.Queries, nodeId, (long)_options.MessageExpiry.TotalMilliseconds)
        {
            NowMs = _options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds(),
        };
}

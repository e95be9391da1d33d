using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using SqliteBackplane.Internal.Delivery;
using SqliteBackplane.Internal.Storage;

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
    private string[] _remoteEndpoints = [];
    private int _liveNodes = 1;

    /// <summary>Where other nodes wake this one; set before joining, so the node row carries it.</summary>
    public string? WakeEndpoint { get; set; }

    /// <summary>The wake endpoints of the other live nodes, as last read.</summary>
    public IReadOnlyList<string> RemoteEndpoints => Volatile.Read(ref _remoteEndpoints);

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
    public void RefreshEndpoints(WriterContext context) => Volatile.Write(ref _remoteEndpoints, ReadEndpoints(context));

    /// <summary>Runs one heartbeat through <paramref name="enqueue"/> (the writer) and reports what it found.</summary>
    public async Task HeartbeatAsync(Action<WriteOperation> enqueue)
    {
        var heartbeat = new DelegateWriteOperation<HeartbeatResult>(Heartbeat);
        try
        {
            enqueue(heartbeat);
            var result = await heartbeat.Task;
            Volatile.Write(ref _remoteEndpoints, result.Endpoints);
            Volatile.Write(ref _liveNodes, result.LiveNodes);
            foreach (var dead in result.Reaped)
            {
                BackplaneLog.NodeReaped(logger, dead.NodeId, dead.Connections, _options.NodeTimeout);
                SocketWakeChannel.DeleteStaleEndpoint(dead.Endpoint);
            }

            if (result.Revived > 0)
            {
                BackplaneLog.NodeRevived(logger, nodeId, result.Revived);
            }
        }
        catch (Exception ex)
        {
            BackplaneLog.HeartbeatFailed(logger, ex);
        }
    }

    /// <summary>The operation that removes this node from the file at shutdown; returns the connections removed.</summary>
    public WriteOperation<int> Leave() => new DelegateWriteOperation<int>(context => NodeRowRemoval.Remove(context, nodeId, _options.EnableResume));

    private sealed record ReapedNode(string NodeId, string? Endpoint, int Connections);

    private sealed record HeartbeatResult(string[] Endpoints, List<ReapedNode> Reaped, int Revived, int LiveNodes);

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

        var deadline = context.NowMs - (long)_options.NodeTimeout.TotalMilliseconds;
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
            reaped.Add(new ReapedNode(deadNodeId, endpoint, NodeRowRemoval.Remove(context, deadNodeId, _options.EnableResume)));
        }

        var liveNodes = Convert.ToInt32(context.Scalar(queries.CountNodes), System.Globalization.CultureInfo.InvariantCulture);
        return new HeartbeatResult(ReadEndpoints(context), reaped, revived, liveNodes);
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
        Volatile.Write(ref _remoteEndpoints, ReadEndpoints(context));
    }

    private string[] ReadEndpoints(WriterContext context)
    {
        using var reader = context.Command(context.Queries.SelectWakeEndpoints, [(Columns.Node, nodeId)]).ExecuteReader();
        var endpoints = new List<string>();
        while (reader.Read())
        {
            endpoints.Add(reader.GetString(0));
        }

        return [.. endpoints];
    }

    private int RestoreLocalConnections(WriterContext context)
    {
        var queries = context.Queries;
        var restored = 0;
        foreach (var (hub, handler) in hubs.Hubs)
        {
            foreach (var connection in handler.SnapshotLocalConnections())
            {
                context.Execute(queries.UpsertConnection, (Columns.Hub, hub), (Columns.Connection, connection.ConnectionId), (Columns.User, connection.UserId),
                    (Columns.Node, nodeId), (Columns.Now, context.NowMs));
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

using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;

namespace SqliteBackplane.Tests.Maintenance;

/// <summary>
/// Builds backplane files row by row for the maintenance tests: the schema exactly as the library creates it, then
/// messages, nodes, connections and groups with chosen timestamps.
/// </summary>
internal sealed class BackplaneFile
{
    public static readonly string TestHubName = typeof(TestHub).FullName!;

    private readonly TempDatabase _database;
    private readonly string _prefix;

    private BackplaneFile(TempDatabase database, string prefix)
    {
        _database = database;
        _prefix = prefix;
    }

    /// <summary>Creates the file in WAL mode with the backplane's schema.</summary>
    public static BackplaneFile Create(TempDatabase database, string prefix = SqliteBackplaneOptions.DefaultTablePrefix)
    {
        using var connection = RawSqlite.Open(database);
        RawSqlite.Execute(connection, "PRAGMA journal_mode = WAL");
        RawSqlite.Execute(connection, new SqliteQueries(prefix).CreateSchema);
        return new BackplaneFile(database, prefix);
    }

    public void InsertMessage(long createdAtMs, long expiresAtMs, string text = "hello", MessageKind kind = MessageKind.All)
    {
        using var connection = RawSqlite.Open(_database);
        RawSqlite.Execute(connection, $"INSERT INTO \"{_prefix}messages\" (hub, kind, node_id, created_at, expires_at, body) VALUES ($hub, $kind, 'writer', $created, $expires, $body)",
            ("$hub", TestHubName), ("$kind", (int)kind), ("$created", createdAtMs), ("$expires", expiresAtMs), ("$body", TestEnvelopes.Broadcast(text)));
    }

    public void InsertMessages(int count, long createdAtMs, long expiresAtMs)
    {
        using var connection = RawSqlite.Open(_database);
        RawSqlite.Execute(connection, "BEGIN");
        var body = TestEnvelopes.Broadcast("bulk");
        for (var i = 0; i < count; i++)
        {
            RawSqlite.Execute(connection, $"INSERT INTO \"{_prefix}messages\" (hub, kind, node_id, created_at, expires_at, body) VALUES ($hub, 1, 'writer', $created, $expires, $body)",
                ("$hub", TestHubName), ("$created", createdAtMs), ("$expires", expiresAtMs), ("$body", body));
        }

        RawSqlite.Execute(connection, "COMMIT");
    }

    /// <summary>A node row with <paramref name="connections"/> connections, each in <paramref name="groupsPerConnection"/> groups.</summary>
    public void InsertNode(string nodeId, long heartbeatAtMs, int connections = 0, int groupsPerConnection = 0, string machine = "box", int processId = 4242)
    {
        using var connection = RawSqlite.Open(_database);
        RawSqlite.Execute(connection, $"INSERT INTO \"{_prefix}nodes\" (node_id, machine_name, process_id, started_at, heartbeat_at, wake_endpoint) VALUES ($node, $machine, $pid, $started, $heartbeat, NULL)",
            ("$node", nodeId), ("$machine", machine), ("$pid", processId), ("$started", heartbeatAtMs - 1000), ("$heartbeat", heartbeatAtMs));
        for (var c = 0; c < connections; c++)
        {
            var connectionId = $"{nodeId}-c{c}";
            RawSqlite.Execute(connection, $"INSERT INTO \"{_prefix}connections\" (hub, connection_id, user_id, node_id, connected_at) VALUES ($hub, $connection, 'user', $node, 0)",
                ("$hub", TestHubName), ("$connection", connectionId), ("$node", nodeId));
            for (var g = 0; g < groupsPerConnection; g++)
            {
                RawSqlite.Execute(connection, $"INSERT INTO \"{_prefix}groups\" (hub, group_name, connection_id) VALUES ($hub, $group, $connection)",
                    ("$hub", TestHubName), ("$group", $"room{g}"), ("$connection", connectionId));
            }
        }
    }

    public long Scalar(string sql) => RawSqlite.Scalar(_database, sql);

    /// <summary>The last log row's kind and body.</summary>
    public (MessageKind Kind, Envelope Envelope) LastMessage()
    {
        using var connection = RawSqlite.Open(_database);
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT kind, body FROM \"{_prefix}messages\" ORDER BY id DESC LIMIT 1";
        using var reader = command.ExecuteReader();
        Xunit.Assert.True(reader.Read(), "The log is empty.");
        return ((MessageKind)reader.GetInt32(0), EnvelopeProtocol.Read((byte[])reader.GetValue(1)));
    }
}

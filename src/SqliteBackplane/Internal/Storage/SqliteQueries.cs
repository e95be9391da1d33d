namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// Every SQL statement the backplane issues, built once per table prefix. Identifiers come only from the
/// validated prefix (see <see cref="SchemaSetup.IsValidTablePrefix"/>) and are double-quoted; all data is bound
/// as parameters.
/// </summary>
internal sealed class SqliteQueries
{
    public const int SchemaVersion = 1;

    public SqliteQueries(string tablePrefix)
    {
        TablePrefix = tablePrefix;
        Messages = Quote(tablePrefix + "messages");
        Nodes = Quote(tablePrefix + "nodes");
        Connections = Quote(tablePrefix + "connections");
        Groups = Quote(tablePrefix + "groups");
        Meta = Quote(tablePrefix + "meta");
        Resumable = Quote(tablePrefix + "resumable");
        var groupsByConnection = Quote(tablePrefix + "groups_by_connection");
        var connectionsByNode = Quote(tablePrefix + "connections_by_node");
        var connectionsByUser = Quote(tablePrefix + "connections_by_user");

        CreateSchema = $"""
            CREATE TABLE IF NOT EXISTS {Meta} (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS {Messages} (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                hub TEXT NOT NULL,
                kind INTEGER NOT NULL,
                node_id TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL,
                body BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS {Nodes} (
                node_id TEXT PRIMARY KEY NOT NULL,
                machine_name TEXT NOT NULL,
                process_id INTEGER NOT NULL,
                started_at INTEGER NOT NULL,
                heartbeat_at INTEGER NOT NULL,
                wake_endpoint TEXT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS {Connections} (
                hub TEXT NOT NULL,
                connection_id TEXT NOT NULL,
                user_id TEXT NULL,
                node_id TEXT NOT NULL,
                connected_at INTEGER NOT NULL,
                PRIMARY KEY (hub, connection_id)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS {connectionsByNode} ON {Connections} (node_id);
            CREATE INDEX IF NOT EXISTS {connectionsByUser} ON {Connections} (hub, user_id);
            CREATE TABLE IF NOT EXISTS {Groups} (
                hub TEXT NOT NULL,
                group_name TEXT NOT NULL,
                connection_id TEXT NOT NULL,
                PRIMARY KEY (hub, group_name, connection_id)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS {groupsByConnection} ON {Groups} (hub, connection_id);
            CREATE TABLE IF NOT EXISTS {Resumable} (
                hub TEXT NOT NULL,
                connection_id TEXT NOT NULL,
                user_id TEXT NULL,
                departed_at INTEGER NULL,
                groups TEXT NULL,
                resumed_by TEXT NULL,
                PRIMARY KEY (hub, connection_id)) WITHOUT ROWID;
            INSERT OR IGNORE INTO {Meta} (key, value) VALUES ('schema_version', '{SchemaVersion}');
            """;

        SelectSchemaVersion = $"SELECT value FROM {Meta} WHERE key = 'schema_version'";
        CountResumableTable = $"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{tablePrefix}resumable'";
        CountBackplaneTables = $"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('{tablePrefix}messages', '{tablePrefix}nodes', '{tablePrefix}connections', '{tablePrefix}groups', '{tablePrefix}meta')";

        // Bound by position on the hot path (WriterContext.AppendMessage): ?1 hub, ?2 kind, ?3 node, ?4 created, ?5 expires, ?6 body.
        InsertMessage = $"INSERT INTO {Messages} (hub, kind, node_id, created_at, expires_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
        SelectMaxMessageId = $"SELECT coalesce(max(id), 0) FROM {Messages}";
        SelectMessagesAfter = $"SELECT id, hub, kind, created_at, expires_at, body, (SELECT max(id) FROM {Messages}) FROM {Messages} WHERE id > $cursor ORDER BY id LIMIT $limit";
        DeleteExpiredMessages = $"DELETE FROM {Messages} WHERE id IN (SELECT id FROM {Messages} WHERE expires_at < $now ORDER BY id LIMIT $limit)";

        UpsertNode = $"INSERT OR REPLACE INTO {Nodes} (node_id, machine_name, process_id, started_at, heartbeat_at, wake_endpoint) VALUES ($node, $machine, $pid, $started, $now, $endpoint)";
        UpdateHeartbeat = $"UPDATE {Nodes} SET heartbeat_at = $now WHERE node_id = $node";
        SelectDeadNodes = $"SELECT node_id, wake_endpoint FROM {Nodes} WHERE {DeadNodeCondition} AND node_id <> $node";
        CountNodes = $"SELECT count(*) FROM {Nodes}";
        // Two subqueries: SQLite answers a bare min() or max() from the index, but scans for an expression over both.
        SelectLogRowSpan = $"SELECT coalesce((SELECT max(id) FROM {Messages}) - (SELECT min(id) FROM {Messages}) + 1, 0)";
        DeleteOldestMessages = $"DELETE FROM {Messages} WHERE id IN (SELECT id FROM {Messages} ORDER BY id LIMIT $limit)";
        SelectNodeHeartbeats = $"SELECT node_id, heartbeat_at FROM {Nodes}";
        SelectFirstCreatedAfter = $"SELECT created_at FROM {Messages} WHERE id > $cursor ORDER BY id LIMIT 1";
        SelectPeers = $"SELECT node_id, machine_name, process_id, wake_endpoint FROM {Nodes} WHERE node_id <> $node";
        SelectNodeProcess = $"SELECT process_id FROM {Nodes} WHERE node_id = $node";
        DeleteNode = $"DELETE FROM {Nodes} WHERE node_id = $node";
        DeleteGroupsOfNode = $"DELETE FROM {Groups} WHERE connection_id IN (SELECT connection_id FROM {Connections} WHERE node_id = $node)";
        DeleteConnectionsOfNode = $"DELETE FROM {Connections} WHERE node_id = $node";

        UpsertConnection = $"INSERT OR REPLACE INTO {Connections} (hub, connection_id, user_id, node_id, connected_at) VALUES ($hub, $connection, $user, $node, $now)";
        DeleteConnection = $"DELETE FROM {Connections} WHERE hub = $hub AND connection_id = $connection";
        DeleteGroupsOfConnection = $"DELETE FROM {Groups} WHERE hub = $hub AND connection_id = $connection";
        SelectConnectionNode = $"SELECT node_id FROM {Connections} WHERE hub = $hub AND connection_id = $connection";
        SelectConnectionUser = $"SELECT coalesce(user_id, '') FROM {Connections} WHERE hub = $hub AND connection_id = $connection";
        CountUserConnections = $"SELECT count(*) FROM {Connections} WHERE hub = $hub AND user_id = $user";
        SelectConnectionsOfNode = $"SELECT hub, connection_id, coalesce(user_id, '') FROM {Connections} WHERE node_id = $node ORDER BY hub, connection_id";
        InsertGroupMember = $"INSERT OR IGNORE INTO {Groups} (hub, group_name, connection_id) VALUES ($hub, $group, $connection)";
        DeleteGroupMember = $"DELETE FROM {Groups} WHERE hub = $hub AND group_name = $group AND connection_id = $connection";

        // Resume (docs/resume.md): one record per opted-in connection; departed_at and groups are set when it leaves.
        InsertResumable = $"INSERT OR REPLACE INTO {Resumable} (hub, connection_id, user_id, departed_at, groups, resumed_by) VALUES ($hub, $connection, $user, NULL, NULL, NULL)";
        SelectResumable = $"SELECT user_id, departed_at, groups, resumed_by, EXISTS (SELECT 1 FROM {Connections} WHERE hub = $hub AND connection_id = $connection) FROM {Resumable} WHERE hub = $hub AND connection_id = $connection";
        MarkResumed = $"UPDATE {Resumable} SET resumed_by = $resumer, departed_at = coalesce(departed_at, $now) WHERE hub = $hub AND connection_id = $connection";
        MarkDeparted = $"""
            UPDATE {Resumable} SET departed_at = $now,
                groups = (SELECT json_group_array(g.group_name) FROM {Groups} g WHERE g.hub = $hub AND g.connection_id = $connection)
            WHERE hub = $hub AND connection_id = $connection AND departed_at IS NULL AND resumed_by IS NULL
            """;
        MarkDepartedOfNode = $"""
            UPDATE {Resumable} SET departed_at = $now,
                groups = (SELECT json_group_array(g.group_name) FROM {Groups} g WHERE g.hub = {Resumable}.hub AND g.connection_id = {Resumable}.connection_id)
            WHERE departed_at IS NULL AND resumed_by IS NULL
              AND (hub, connection_id) IN (SELECT hub, connection_id FROM {Connections} WHERE node_id = $node)
            """;
        // Also records that lost their connection without a departure (removed by a process without resume enabled).
        DeleteExpiredResumable = $"""
            DELETE FROM {Resumable} WHERE departed_at < $deadline
               OR departed_at IS NULL AND NOT EXISTS (SELECT 1 FROM {Connections} c WHERE c.hub = {Resumable}.hub AND c.connection_id = {Resumable}.connection_id)
            """;
        SelectLogBounds = $"SELECT coalesce((SELECT min(id) FROM {Messages}), 0), coalesce((SELECT max(id) FROM {Messages}), 0)";
        // Sends, group changes and attach rows (kinds 1 to 6, 13) of one hub between two positions, for a replay; the
        // group changes and attach rows alone newest first, to walk memberships and a chain of resumes back.
        SelectHubRowsBetween = $"SELECT id, kind, body FROM {Messages} WHERE id > $after AND id < $before AND hub = $hub AND (kind BETWEEN 1 AND 6 OR kind = 13) ORDER BY id";
        SelectHubGroupChangesBetween = $"SELECT id, kind, body FROM {Messages} WHERE id > $after AND id < $before AND hub = $hub AND kind IN (5, 6, 13) ORDER BY id DESC";
        SelectResumeKey = $"SELECT value FROM {Meta} WHERE key = 'resume_token_key'";
        InsertResumeKey = $"INSERT OR IGNORE INTO {Meta} (key, value) VALUES ('resume_token_key', $value)";

        CountConnections = $"SELECT count(*) FROM {Connections} WHERE hub = $hub";
        SelectOnlineUsers = $"SELECT DISTINCT user_id FROM {Connections} WHERE hub = $hub AND user_id IS NOT NULL ORDER BY user_id";
        SelectUserConnections = $"SELECT connection_id FROM {Connections} WHERE hub = $hub AND user_id = $user ORDER BY connection_id";
        SelectGroupMembers = $"SELECT connection_id FROM {Groups} WHERE hub = $hub AND group_name = $group ORDER BY connection_id";
        CountGroupMembers = $"SELECT count(*) FROM {Groups} WHERE hub = $hub AND group_name = $group";
        SelectConnectionGroups = $"SELECT group_name FROM {Groups} WHERE hub = $hub AND connection_id = $connection ORDER BY group_name";
        SelectNodes = $"""
            SELECT n.node_id, n.machine_name, n.process_id, n.started_at, n.heartbeat_at,
                   (SELECT count(*) FROM {Connections} c WHERE c.node_id = n.node_id AND c.hub = $hub)
            FROM {Nodes} n ORDER BY n.started_at, n.node_id
            """;
    }

    public string TablePrefix { get; }
    public string Messages { get; }
    public string Nodes { get; }
    public string Connections { get; }
    public string Groups { get; }
    public string Meta { get; }
    public string Resumable { get; }
    public string InsertResumable { get; }
    public string SelectResumable { get; }
    public string MarkResumed { get; }
    public string MarkDeparted { get; }
    public string MarkDepartedOfNode { get; }
    public string DeleteExpiredResumable { get; }
    public string SelectLogBounds { get; }
    public string SelectHubRowsBetween { get; }
    public string SelectHubGroupChangesBetween { get; }
    public string SelectResumeKey { get; }
    public string InsertResumeKey { get; }

    public string CreateSchema { get; }
    public string SelectSchemaVersion { get; }
    public string CountBackplaneTables { get; }
    public string CountResumableTable { get; }
    public string InsertMessage { get; }
    public string SelectMaxMessageId { get; }
    public string SelectMessagesAfter { get; }
    public string DeleteExpiredMessages { get; }
    public string UpsertNode { get; }
    public string UpdateHeartbeat { get; }
    public string SelectDeadNodes { get; }
    public string SelectPeers { get; }
    public string SelectNodeProcess { get; }
    public string CountNodes { get; }
    public string SelectLogRowSpan { get; }
    public string DeleteOldestMessages { get; }
    public string SelectNodeHeartbeats { get; }
    public string SelectFirstCreatedAfter { get; }
    public string DeleteNode { get; }
    public string DeleteGroupsOfNode { get; }
    public string DeleteConnectionsOfNode { get; }
    public string UpsertConnection { get; }
    public string DeleteConnection { get; }
    public string DeleteGroupsOfConnection { get; }
    public string SelectConnectionNode { get; }
    public string SelectConnectionUser { get; }
    public string CountUserConnections { get; }
    public string SelectConnectionsOfNode { get; }
    public string InsertGroupMember { get; }
    public string DeleteGroupMember { get; }
    public string CountConnections { get; }
    public string SelectOnlineUsers { get; }
    public string SelectUserConnections { get; }
    public string SelectGroupMembers { get; }
    public string CountGroupMembers { get; }
    public string SelectConnectionGroups { get; }
    public string SelectNodes { get; }

    /// <summary>Pragmas applied to every connection the backplane opens (see docs/architecture.md, "Ops-friendly").</summary>
    public const string ConnectionPragmas = "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0; PRAGMA foreign_keys = OFF;";

    public const string EnableWal = "PRAGMA journal_mode = WAL";
    public const string BeginImmediate = "BEGIN IMMEDIATE";
    public const string Commit = "COMMIT";
    public const string Rollback = "ROLLBACK";

    /// <summary>Changes when another connection commits; the reader's safety poll reads the log only then.</summary>
    public const string DataVersion = "PRAGMA data_version";
    /// <summary>Copies the log back into the database as far as no reader still needs it; returns busy, log frames, checkpointed frames.</summary>
    public const string PassiveCheckpoint = "PRAGMA wal_checkpoint(PASSIVE)";

    /// <summary>
    /// The one liveness rule, for the reapers and the maintenance tool alike: a node is dead when its last heartbeat is
    /// older than <c>$deadline</c> (<see cref="NodeLiveness.Deadline"/>).
    /// </summary>
    private const string DeadNodeCondition = "heartbeat_at < $deadline";

    /// <summary>A read transaction for reads that must agree with each other (statistics).</summary>
    public const string BeginRead = "BEGIN";

    /// <summary>The database's page size: one WAL frame holds one page (plus a 24-byte header).</summary>
    public const string PageSize = "PRAGMA page_size";

    private static string Quote(string identifier) => "\"" + identifier + "\"";

    // Maintenance (SqliteBackplaneMaintenance and the sqlite-backplane tool), built on first use.

    /// <summary>Row counts, log bounds and schema version in one read.</summary>
    public string SelectStatistics => field ??= $"""
        SELECT (SELECT count(*) FROM {Messages}),
               (SELECT count(*) FROM {Messages} WHERE expires_at < $now),
               (SELECT min(id) FROM {Messages}),
               (SELECT max(id) FROM {Messages}),
               (SELECT created_at FROM {Messages} ORDER BY id LIMIT 1),
               (SELECT count(*) FROM {Nodes}),
               (SELECT count(*) FROM {Connections}),
               (SELECT count(*) FROM {Groups}),
               (SELECT value FROM {Meta} WHERE key = 'schema_version')
        """;

    /// <summary>Every node with its total connection count across hubs, and whether it is live by the reapers' rule.</summary>
    public string SelectNodeStatus => field ??= $"""
        SELECT n.node_id, n.machine_name, n.process_id, n.started_at, n.heartbeat_at, n.wake_endpoint,
               (SELECT count(*) FROM {Connections} c WHERE c.node_id = n.node_id),
               NOT ({DeadNodeCondition})
        FROM {Nodes} n ORDER BY n.started_at, n.node_id
        """;

    /// <summary>Log rows after a cursor with every column, for <c>sqlite-backplane tail</c>.</summary>
    public string SelectLogAfter => field ??= $"SELECT id, hub, kind, node_id, created_at, expires_at, body FROM {Messages} WHERE id > $cursor ORDER BY id LIMIT $limit";

    /// <summary>The cursor that leaves the last <c>$count</c> rows of the log to read.</summary>
    public string SelectCursorBeforeLast => field ??= $"SELECT coalesce(min(id) - 1, (SELECT coalesce(max(id), 0) FROM {Messages})) FROM (SELECT id FROM {Messages} ORDER BY id DESC LIMIT $count)";

    /// <summary>Table prefixes in the file that look like a backplane (they have a meta table), to suggest when the given one has none.</summary>
    public const string SelectCandidatePrefixes = "SELECT substr(name, 1, length(name) - 4) FROM sqlite_master WHERE type = 'table' AND name LIKE '%meta' ORDER BY name";

    /// <summary>Page count, free pages and page size of the main database.</summary>
    public const string SelectPageStatistics = "SELECT (SELECT page_count FROM pragma_page_count()), (SELECT freelist_count FROM pragma_freelist_count()), (SELECT page_size FROM pragma_page_size())";

    /// <summary>
    /// Writes a compacted copy of the whole database to a new, empty file (<c>$path</c>). It only reads the source, in one
    /// read transaction; an in-place <c>VACUUM</c> would rewrite the live file and its WAL, which replicators cannot follow.
    /// </summary>
    public const string VacuumInto = "VACUUM INTO $path";

    // The dashboard (src/SqliteBackplane/Dashboard), built on first use. Its one table, node_stats, is additive: created
    // with CREATE TABLE IF NOT EXISTS while a dashboard page is open, never required by anything else.

    /// <summary>The per-node figures table: one row per node, written only while a dashboard is watching.</summary>
    public string NodeStats => field ??= Quote(TablePrefix + "node_stats");

    /// <summary>Creates the node figures table when it is missing.</summary>
    public string CreateNodeStats => field ??= $"CREATE TABLE IF NOT EXISTS {NodeStats} (node_id TEXT PRIMARY KEY NOT NULL, updated_at INTEGER NOT NULL, figures TEXT NOT NULL) WITHOUT ROWID";

    /// <summary>Whether the node figures table exists.</summary>
    public string CountNodeStatsTable => field ??= $"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{TablePrefix}node_stats'";

    /// <summary>Writes this node's figures (<c>$value</c>, JSON) at <c>$now</c>.</summary>
    public string UpsertNodeStats => field ??= $"INSERT OR REPLACE INTO {NodeStats} (node_id, updated_at, figures) VALUES ($node, $now, $value)";

    /// <summary>Removes one node's figures.</summary>
    public string DeleteNodeStats => field ??= $"DELETE FROM {NodeStats} WHERE node_id = $node";

    /// <summary>Removes the figures of nodes that are no longer registered.</summary>
    public string DeleteOrphanNodeStats => field ??= $"DELETE FROM {NodeStats} WHERE node_id NOT IN (SELECT node_id FROM {Nodes})";

    /// <summary>Every node's figures: node id, when written, the JSON.</summary>
    public string SelectNodeStats => field ??= $"SELECT node_id, updated_at, figures FROM {NodeStats}";

    /// <summary>Until when (Unix ms, as text) some dashboard watches the file; nodes publish their figures until then.</summary>
    public string SelectWatchedUntil => field ??= $"SELECT value FROM {Meta} WHERE key = 'dashboard_watched_until'";

    /// <summary>Sets <see cref="SelectWatchedUntil"/> to <c>$value</c>.</summary>
    public string UpsertWatchedUntil => field ??= $"INSERT OR REPLACE INTO {Meta} (key, value) VALUES ('dashboard_watched_until', $value)";

    /// <summary>The log's first and last id and the first row's creation time, from the primary key alone (no scan).</summary>
    public string SelectLogSummary => field ??= $"SELECT (SELECT min(id) FROM {Messages}), (SELECT max(id) FROM {Messages}), (SELECT created_at FROM {Messages} ORDER BY id LIMIT 1)";

    /// <summary>Per hub: connections and distinct users.</summary>
    public string SelectHubSummaries => field ??= $"SELECT hub, count(*), count(DISTINCT user_id) FROM {Connections} GROUP BY hub ORDER BY hub";

    /// <summary>A hub's largest groups whose name contains <c>$value</c> (any name when null), at most <c>$limit</c>.</summary>
    public string SelectLargestGroups => field ??= $"""
        SELECT group_name, count(*) AS size FROM {Groups}
        WHERE hub = $hub AND ($value IS NULL OR instr(lower(group_name), lower($value)) > 0)
        GROUP BY group_name ORDER BY size DESC, group_name LIMIT $limit
        """;

    // Delivery holds (SendAdmission): a node whose reading connections fall behind publishes the log position they had
    // reached; every node's senders wait while the log runs too far past the lowest live one (docs/architecture.md).

    /// <summary>Whether the nodes table has the delivery_hold column (files from before it lack it).</summary>
    public string CountDeliveryHoldColumn => field ??= $"SELECT count(*) FROM pragma_table_info('{TablePrefix}nodes') WHERE name = 'delivery_hold'";

    /// <summary>Adds the delivery_hold column to a nodes table from before it (additive: older builds ignore it).</summary>
    public string AddDeliveryHoldColumn => field ??= $"ALTER TABLE {Nodes} ADD COLUMN delivery_hold INTEGER NULL";

    /// <summary>Publishes this node's hold (<c>$value</c>, NULL when its connections keep up); it counts as a heartbeat too.</summary>
    public string UpdateDeliveryHold => field ??= $"UPDATE {Nodes} SET delivery_hold = $value, heartbeat_at = max(heartbeat_at, $now) WHERE node_id = $node";

    /// <summary>The lowest hold of the other nodes that wrote their row since <c>$deadline</c>; NULL when none holds.</summary>
    public string SelectLowestDeliveryHold => field ??= $"SELECT min(delivery_hold) FROM {Nodes} WHERE delivery_hold IS NOT NULL AND node_id <> $node AND heartbeat_at >= $deadline";
}

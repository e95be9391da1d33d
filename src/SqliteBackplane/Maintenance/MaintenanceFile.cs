using Microsoft.Data.Sqlite;
using SqliteBackplane.Internal.Diagnostics;
using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane.Maintenance;

/// <summary>
/// The backplane file as maintenance reaches it: a connection per call, opened only after checking that the file
/// exists, is a SQLite database and holds the backplane tables with the prefix (never creating it); short write
/// transactions inside the same cross-process lock as the nodes' writers; SQLite errors turned into errors that say
/// which file and what to fix; and the nodes table read with each node's liveness. Every call runs on a thread of its
/// own, never on the caller's.
/// </summary>
internal sealed class MaintenanceFile
{
    /// <summary>The node id recorded on rows maintenance appends (NodeGone); no node ever has it.</summary>
    internal const string MaintenanceNodeId = "maintenance";

    private readonly BackplaneDatabase _database;
    private readonly TimeSpan _nodeTimeout;
    private readonly TimeSpan _busyTimeout;
    private readonly long _messageExpiryMs;
    private readonly TimeProvider _timeProvider;

    /// <summary>Reads the values it needs from <paramref name="options"/> once, here; the caller has validated them.</summary>
    public MaintenanceFile(SqliteBackplaneOptions options)
    {
        _database = new BackplaneDatabase(options);
        TablePrefix = options.TablePrefix;
        _nodeTimeout = options.NodeTimeout;
        _busyTimeout = options.BusyTimeout;
        _messageExpiryMs = (long)options.MessageExpiry.TotalMilliseconds;
        _timeProvider = options.TimeProvider;
    }

    /// <summary>The full path of the backplane database file.</summary>
    public string DatabasePath => _database.Path;

    /// <summary>The table prefix of the backplane tables.</summary>
    public string TablePrefix { get; }

    /// <summary>Whether the application keeps resume records (removing a node then keeps its connections' records).</summary>
    public bool EnableResume => _database.Options.EnableResume;

    public SqliteQueries Queries => _database.Queries;

    /// <summary>
    /// Opens a configured connection to the file after checking that it exists, is a SQLite database and holds the
    /// backplane tables with the prefix. Never creates the file.
    /// </summary>
    public SqliteConnection OpenBackplane()
    {
        var path = _database.Path;
        if (!File.Exists(path))
        {
            throw MaintenanceErrors.DatabaseMissing(path);
        }

        SqliteConnection connection;
        try
        {
            connection = _database.Open();
        }
        catch (InvalidOperationException ex) when (ex.InnerException is SqliteException { SqliteErrorCode: BackplaneErrors.SqliteNotADatabase or BackplaneErrors.SqliteCorrupt } sqlite)
        {
            throw MaintenanceErrors.NotADatabase(path, sqlite);
        }

        try
        {
            if (SchemaSetup.CountTables(connection, Queries) < SchemaSetup.TableCount)
            {
                throw MaintenanceErrors.NoTables(path, TablePrefix, CandidatePrefixes(connection));
            }

            SchemaSetup.ThrowIfUnsupportedVersion(connection, Queries, path);
            return connection;
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode is BackplaneErrors.SqliteNotADatabase or BackplaneErrors.SqliteCorrupt)
        {
            connection.Dispose();
            throw MaintenanceErrors.NotADatabase(path, ex);
        }
        catch (SqliteException ex)
        {
            connection.Dispose();
            throw MaintenanceErrors.ReadFailed(path, ex);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    public long NowMs() => _timeProvider.GetUtcNow().ToUnixTimeMilliseconds();

    public WriterContext NewWriterContext(SqliteConnection connection) =>
        new(connection, Queries, MaintenanceNodeId, _messageExpiryMs);

    /// <summary>One short write transaction inside the cross-process lock, as the nodes' writers run theirs.</summary>
    public T InWriteTransaction<T>(CrossProcessWriteLock writeLock, WriterContext context, Func<T> work)
    {
        using var transaction = new WriteTransaction(context.Connection, writeLock, _busyTimeout, _database.Path);
        try
        {
            return transaction.Run(() =>
            {
                context.NowMs = NowMs();
                return work();
            });
        }
        catch (SqliteException ex)
        {
            throw BackplaneErrors.WriteFailed(_database.Path, ex);
        }
    }

    /// <summary>Runs a read, turning a SQLite error into one that names the file.</summary>
    public T Read<T>(Func<T> work)
    {
        try
        {
            return work();
        }
        catch (SqliteException ex)
        {
            throw ex.SqliteErrorCode is BackplaneErrors.SqliteNotADatabase or BackplaneErrors.SqliteCorrupt
                ? MaintenanceErrors.NotADatabase(_database.Path, ex)
                : MaintenanceErrors.ReadFailed(_database.Path, ex);
        }
    }

    /// <summary>Every node on the file, live or not, with its wake endpoint (to delete when the node is removed).</summary>
    public List<(SqliteBackplaneNodeStatus Status, string? WakeEndpoint)> ReadNodes(SqliteConnection connection, long nowMs)
    {
        using var command = Command(connection, Queries.SelectNodeStatus, (Columns.Deadline, NodeLiveness.Deadline(nowMs, _nodeTimeout)));
        using var reader = command.ExecuteReader();
        var nodes = new List<(SqliteBackplaneNodeStatus, string?)>();
        while (reader.Read())
        {
            var heartbeat = reader.GetInt64(Columns.NodeStatus.HeartbeatAt);
            nodes.Add((new SqliteBackplaneNodeStatus
            {
                NodeId = reader.GetString(Columns.NodeStatus.NodeId),
                MachineName = reader.GetString(Columns.NodeStatus.MachineName),
                ProcessId = reader.GetInt32(Columns.NodeStatus.ProcessId),
                StartedAt = DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(Columns.NodeStatus.StartedAt)),
                LastHeartbeat = DateTimeOffset.FromUnixTimeMilliseconds(heartbeat),
                HeartbeatAge = TimeSpan.FromMilliseconds(Math.Max(0, nowMs - heartbeat)),
                IsLive = reader.GetBoolean(Columns.NodeStatus.IsLive),
                ConnectionCount = reader.GetInt32(Columns.NodeStatus.ConnectionCount),
            }, reader.IsDBNull(Columns.NodeStatus.WakeEndpoint) ? null : reader.GetString(Columns.NodeStatus.WakeEndpoint)));
        }

        return nodes;
    }

    /// <summary>Runs blocking SQLite work on a thread of its own, never on the caller's.</summary>
    public static Task<T> RunAsync<T>(Func<CancellationToken, T> work, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<T>(cancellationToken);
        }

        return Task.Factory.StartNew(() => work(cancellationToken), cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    public static SqliteCommand Command(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters) =>
        SqliteCommands.Create(connection, sql, parameters);

    public static void Execute(SqliteConnection connection, string sql)
    {
        using var command = Command(connection, sql);
        command.ExecuteNonQuery();
    }

    /// <summary>The size of a file in bytes; 0 when it does not exist or cannot be read.</summary>
    public static long FileLength(string path)
    {
        try
        {
            return File.Exists(path) ? new FileInfo(path).Length : 0;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    // Prefixes whose five tables all exist, to suggest when the configured prefix has none.
    private List<string> CandidatePrefixes(SqliteConnection connection)
    {
        var candidates = new List<string>();
        using (var command = Command(connection, SqliteQueries.SelectCandidatePrefixes))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                candidates.Add(reader.GetString(0));
            }
        }

        // Validated like the option before it goes into SQL.
        return candidates.Where(p => p != TablePrefix && SchemaSetup.IsValidTablePrefix(p) && SchemaSetup.CountTables(connection, new SqliteQueries(p)) == SchemaSetup.TableCount).ToList();
    }
}

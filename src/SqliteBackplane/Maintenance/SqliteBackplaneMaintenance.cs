using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Internal.Configuration;
using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane.Maintenance;

/// <summary>
/// Maintenance of a backplane file on demand: delete expired rows and dead nodes now, report statistics, and write a
/// compacted copy. Works with or without a host: construct it from the same <see cref="SqliteBackplaneOptions"/> the
/// application uses (the <c>sqlite-backplane</c> command-line tool does), or resolve it from dependency injection.
/// </summary>
/// <remarks>
/// It opens a connection per call and never starts a node, so it does not appear in the nodes table. Writes take the
/// same cross-process lock as the backplane's writers, in short transactions. It never creates, deletes or replaces the
/// database or its <c>-wal</c> and <c>-shm</c> files, never runs an in-place <c>VACUUM</c> and never checkpoints.
/// </remarks>
internal sealed partial class SqliteBackplaneMaintenance
{
    /// <summary>Rows deleted per write transaction, as the nodes' own cleanup does.</summary>
    internal const int DeleteBatchSize = 500;

    /// <summary>The node id recorded on rows this class appends (NodeGone); no node ever has it.</summary>
    internal const string MaintenanceNodeId = "maintenance";

    private readonly BackplaneDatabase _database;
    private readonly string _tablePrefix;
    private readonly TimeSpan _nodeTimeout;
    private readonly TimeSpan _busyTimeout;
    private readonly long _messageExpiryMs;
    private readonly TimeProvider _timeProvider;

    /// <summary>Creates the maintenance API for the backplane file and table prefix named by <paramref name="options"/>.</summary>
    /// <param name="options">
    /// The backplane options: <see cref="SqliteBackplaneOptions.ConnectionString"/> and <see cref="SqliteBackplaneOptions.TablePrefix"/>
    /// name the tables; <see cref="SqliteBackplaneOptions.NodeTimeout"/> decides which nodes are dead;
    /// <see cref="SqliteBackplaneOptions.BusyTimeout"/> bounds waits for the write lock. The values are read once, here.
    /// </param>
    /// <exception cref="OptionsValidationException">The options are invalid; the message names each problem.</exception>
    public SqliteBackplaneMaintenance(SqliteBackplaneOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        SqliteBackplaneOptionsValidator.ThrowIfInvalid(options);
        _database = new BackplaneDatabase(options);
        _tablePrefix = options.TablePrefix;
        _nodeTimeout = options.NodeTimeout;
        _busyTimeout = options.BusyTimeout;
        _messageExpiryMs = (long)options.MessageExpiry.TotalMilliseconds;
        _timeProvider = options.TimeProvider;
    }

    /// <summary>Creates the maintenance API from the application's configured options (the constructor dependency injection uses).</summary>
    /// <param name="options">The configured backplane options.</param>
    public SqliteBackplaneMaintenance(IOptions<SqliteBackplaneOptions> options)
        : this((options ?? throw new ArgumentNullException(nameof(options))).Value)
    {
    }

    /// <summary>Gets the full path of the backplane database file.</summary>
    public string DatabasePath => _database.Path;

    /// <summary>Gets the table prefix of the backplane tables this instance maintains.</summary>
    public string TablePrefix => _tablePrefix;

    internal SqliteQueries Queries => _database.Queries;

    /// <summary>
    /// Deletes every message row past its expiry now, in transactions of at most 500 rows, releasing the write lock
    /// between them so that live nodes keep writing. Rows that have not expired are never touched.
    /// </summary>
    /// <param name="cancellationToken">Stops between transactions; rows already deleted stay deleted.</param>
    /// <returns>The number of rows deleted.</returns>
    /// <exception cref="InvalidOperationException">The file is missing, not a SQLite database, or has no backplane tables with the prefix.</exception>
    /// <exception cref="TimeoutException">The write lock stayed taken longer than <see cref="SqliteBackplaneOptions.BusyTimeout"/>.</exception>
    public Task<int> DeleteExpiredMessagesAsync(CancellationToken cancellationToken = default) =>
        RunAsync(token =>
        {
            using var connection = OpenBackplane();
            using var writeLock = new CrossProcessWriteLock(_database.Path);
            using var context = NewWriterContext(connection);
            var total = 0;
            while (true)
            {
                token.ThrowIfCancellationRequested();
                var deleted = InWriteTransaction(writeLock, context, () =>
                    context.Execute(Queries.DeleteExpiredMessages, (Columns.Now, context.NowMs), (Columns.Limit, DeleteBatchSize)));
                total += deleted;
                if (deleted < DeleteBatchSize)
                {
                    return total;
                }

                // flock is not fair: pause so a waiting node writer takes the lock before the next batch.
                Thread.Sleep(1);
            }
        }, cancellationToken);

    /// <summary>
    /// Removes now every node whose heartbeat is older than <see cref="SqliteBackplaneOptions.NodeTimeout"/>, with its
    /// connections and group memberships, exactly as a live node's reaper would: each removal appends a NodeGone row, so
    /// client results waiting on that node fail at once in every process. One transaction per node.
    /// </summary>
    /// <param name="cancellationToken">Stops between nodes; nodes already removed stay removed.</param>
    /// <returns>The nodes removed, each with the number of connections removed with it.</returns>
    /// <exception cref="InvalidOperationException">The file is missing, not a SQLite database, or has no backplane tables with the prefix.</exception>
    /// <exception cref="TimeoutException">The write lock stayed taken longer than <see cref="SqliteBackplaneOptions.BusyTimeout"/>.</exception>
    public Task<IReadOnlyList<SqliteBackplaneNodeStatus>> DeleteDeadNodesAsync(CancellationToken cancellationToken = default) =>
        RunAsync<IReadOnlyList<SqliteBackplaneNodeStatus>>(token =>
        {
            using var connection = OpenBackplane();
            using var writeLock = new CrossProcessWriteLock(_database.Path);
            using var context = NewWriterContext(connection);
            var removed = new List<SqliteBackplaneNodeStatus>();
            while (true)
            {
                token.ThrowIfCancellationRequested();

                // Read and delete in the same transaction, so a node that heartbeats in between is never removed.
                var gone = InWriteTransaction(writeLock, context, () =>
                {
                    var dead = ReadNodes(connection, context.NowMs).FirstOrDefault(n => !n.Status.IsLive);
                    if (dead.Status is null)
                    {
                        return default;
                    }

                    var connections = NodeRowRemoval.Remove(context, dead.Status.NodeId, reaped: true, _database.Options.EnableResume);
                    return (Status: WithConnectionCount(dead.Status, connections), dead.WakeEndpoint);
                });

                if (gone.Status is null)
                {
                    return removed;
                }

                removed.Add(gone.Status);
                WakeEndpoints.DeleteStale(gone.WakeEndpoint);
            }
        }, cancellationToken);

    /// <summary>Lists every node on the file, live or not, with its heartbeat age and connection count.</summary>
    /// <param name="cancellationToken">Cancels the call before it reads.</param>
    /// <returns>The nodes, ordered by start time.</returns>
    /// <exception cref="InvalidOperationException">The file is missing, not a SQLite database, or has no backplane tables with the prefix.</exception>
    public Task<IReadOnlyList<SqliteBackplaneNodeStatus>> GetNodesAsync(CancellationToken cancellationToken = default) =>
        RunAsync<IReadOnlyList<SqliteBackplaneNodeStatus>>(_ =>
        {
            using var connection = OpenBackplane();
            return Read(() => ReadNodes(connection, NowMs()).Select(n => n.Status).ToList());
        }, cancellationToken);

    /// <summary>
    /// Reports row counts per table, file and WAL sizes, the oldest row's age, the nodes and the schema version. The
    /// counts come from one short read transaction; nothing is written.
    /// </summary>
    /// <param name="cancellationToken">Cancels the call before it reads.</param>
    /// <returns>The statistics.</returns>
    /// <exception cref="InvalidOperationException">The file is missing, not a SQLite database, or has no backplane tables with the prefix.</exception>
    public Task<SqliteBackplaneStatistics> GetStatisticsAsync(CancellationToken cancellationToken = default) =>
        RunAsync(_ =>
        {
            using var connection = OpenBackplane();
            var now = NowMs();
            return Read(() =>
            {
                Execute(connection, SqliteQueries.BeginRead);
                try
                {
                    using var command = Command(connection, Queries.SelectStatistics, (Columns.Now, now));
                    using var reader = command.ExecuteReader();
                    reader.Read();
                    long? oldestCreatedAt = NullableInt64(reader, Columns.Statistics.OldestCreatedAt);
                    var version = reader.IsDBNull(Columns.Statistics.SchemaVersion) ? "0" : reader.GetString(Columns.Statistics.SchemaVersion);
                    var nodes = ReadNodes(connection, now).Select(n => n.Status).ToList();
                    var (pageCount, freePages, pageSize) = ReadPages(connection);
                    return new SqliteBackplaneStatistics
                    {
                        DatabasePath = _database.Path,
                        TablePrefix = _tablePrefix,
                        SchemaVersion = int.TryParse(version, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) ? parsed : 0,
                        CapturedAt = DateTimeOffset.FromUnixTimeMilliseconds(now),
                        FileSizeBytes = Math.Max(FileLength(_database.Path), pageCount * pageSize),
                        WalSizeBytes = FileLength(_database.Path + "-wal"),
                        FreeBytes = freePages * pageSize,
                        MessageCount = reader.GetInt64(Columns.Statistics.MessageCount),
                        ExpiredMessageCount = reader.GetInt64(Columns.Statistics.ExpiredMessageCount),
                        FirstMessageId = NullableInt64(reader, Columns.Statistics.FirstMessageId),
                        LastMessageId = NullableInt64(reader, Columns.Statistics.LastMessageId),
                        OldestMessageAge = oldestCreatedAt is { } created ? TimeSpan.FromMilliseconds(Math.Max(0, now - created)) : null,
                        NodeCount = reader.GetInt64(Columns.Statistics.NodeCount),
                        ConnectionCount = reader.GetInt64(Columns.Statistics.ConnectionCount),
                        GroupMembershipCount = reader.GetInt64(Columns.Statistics.GroupMembershipCount),
                        Nodes = nodes,
                    };
                }
                finally
                {
                    Execute(connection, SqliteQueries.Commit);
                }
            });
        }, cancellationToken);


    /// <summary>
    /// Opens a configured connection to the file after checking that it exists, is a SQLite database and holds the
    /// backplane tables with the prefix. Never creates the file.
    /// </summary>
    internal SqliteConnection OpenBackplane()
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
                throw MaintenanceErrors.NoTables(path, _tablePrefix, CandidatePrefixes(connection));
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

    internal long NowMs() => _timeProvider.GetUtcNow().ToUnixTimeMilliseconds();

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
        return candidates.Where(p => p != _tablePrefix && SchemaSetup.IsValidTablePrefix(p) && SchemaSetup.CountTables(connection, new SqliteQueries(p)) == SchemaSetup.TableCount).ToList();
    }

    private WriterContext NewWriterContext(SqliteConnection connection) =>
        new(connection, Queries, MaintenanceNodeId, _messageExpiryMs);

    // One short write transaction inside the cross-process lock, as the nodes' writers run theirs.
    private T InWriteTransaction<T>(CrossProcessWriteLock writeLock, WriterContext context, Func<T> work)
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

    private T Read<T>(Func<T> work)
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

    private List<(SqliteBackplaneNodeStatus Status, string? WakeEndpoint)> ReadNodes(SqliteConnection connection, long nowMs)
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

    private static SqliteBackplaneNodeStatus WithConnectionCount(SqliteBackplaneNodeStatus node, int connections) => new()
    {
        NodeId = node.NodeId,
        MachineName = node.MachineName,
        ProcessId = node.ProcessId,
        StartedAt = node.StartedAt,
        LastHeartbeat = node.LastHeartbeat,
        HeartbeatAge = node.HeartbeatAge,
        IsLive = false,
        ConnectionCount = connections,
    };

    private static long? NullableInt64(SqliteDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetInt64(ordinal);

    private static (long PageCount, long FreePages, long PageSize) ReadPages(SqliteConnection connection)
    {
        using var command = Command(connection, SqliteQueries.SelectPageStatistics);
        using var reader = command.ExecuteReader();
        reader.Read();
        return (reader.GetInt64(Columns.PageStatistics.PageCount), reader.GetInt64(Columns.PageStatistics.FreePages), reader.GetInt64(Columns.PageStatistics.PageSize));
    }

    private static Task<T> RunAsync<T>(Func<CancellationToken, T> work, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<T>(cancellationToken);
        }

        // SQLite is synchronous: run the blocking work on a thread of its own, never on the caller's.
        return Task.Factory.StartNew(() => work(cancellationToken), cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    private static SqliteCommand Command(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters) =>
        SqliteCommands.Create(connection, sql, parameters);

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = Command(connection, sql);
        command.ExecuteNonQuery();
    }
}

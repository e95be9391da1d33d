using Microsoft.Data.Sqlite;
using SQLitePCL;
using SqliteBackplane.Internal.Messaging;

namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// What an operation sees on the writer thread: the open connection inside a transaction, prepared commands
/// reused across batches, and the clock reading for this batch.
/// </summary>
internal sealed class WriterContext : IDisposable
{
    private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);

    public WriterContext(SqliteConnection connection, SqliteQueries queries, string nodeId, long messageExpiryMs)
    {
        Connection = connection;
        Queries = queries;
        NodeId = nodeId;
        MessageExpiryMs = messageExpiryMs;
    }

    public SqliteConnection Connection { get; }

    public SqliteQueries Queries { get; }

    public string NodeId { get; }

    public long MessageExpiryMs { get; }

    /// <summary>Unix milliseconds, read once per batch.</summary>
    public long NowMs { get; set; }

    /// <summary>The highest message id this node has appended; restored when a transaction rolls back.</summary>
    public long LastAppendedId { get; set; }

    /// <summary>Whether the current batch appended any message row (readers need waking).</summary>
    public bool AppendedInBatch { get; set; }

    /// <summary>Sends (not group changes or control rows) appended in the current batch.</summary>
    public int PublishedInBatch { get; set; }

    /// <summary>Rows deleted in this batch to keep the log under a capacity (LogFullMode.DropOldest).</summary>
    public int DroppedOldestInBatch { get; set; }

    private long? _logRows;

    /// <summary>Called at the start of every batch.</summary>
    public void BeginBatch(long nowMs)
    {
        NowMs = nowMs;
        AppendedInBatch = false;
        PublishedInBatch = 0;
        DroppedOldestInBatch = 0;
        _logRows = null;
    }

    /// <summary>Rows in the log (the id span: rows leave from its head), read once per batch and kept up to date.</summary>
    public long LogRows()
    {
        _logRows ??= Convert.ToInt64(Scalar(Queries.SelectLogRowSpan), System.Globalization.CultureInfo.InvariantCulture);
        return _logRows.Value;
    }

    /// <summary>Deletes the oldest <paramref name="count"/> rows; returns how many went.</summary>
    public int DropOldest(int count)
    {
        var deleted = Execute(Queries.DeleteOldestMessages, ("$limit", count));
        DroppedOldestInBatch += deleted;
        if (_logRows is not null)
        {
            _logRows -= deleted;
        }

        return deleted;
    }

    /// <summary>Returns the cached command for <paramref name="sql"/> with its parameters cleared, so it is prepared once.</summary>
    public SqliteCommand Command(string sql)
    {
        if (!_commands.TryGetValue(sql, out var command))
        {
            command = Connection.CreateCommand();
            command.CommandText = sql;
            _commands[sql] = command;
        }

        command.Parameters.Clear();
        return command;
    }

    // The insert every send makes, prepared once and bound by position through SQLitePCLRaw: Microsoft.Data.Sqlite
    // binds parameters by name on every execution, which cost more than SQLite's own work here.
    private sqlite3_stmt? _insertMessage;

    public long AppendMessage(string hub, MessageKind kind, byte[] body)
    {
        var db = Connection.Handle!;
        if (_insertMessage is null)
        {
            Check(raw.sqlite3_prepare_v2(db, Queries.InsertMessage, out var prepared), db);
            _insertMessage = prepared;
        }

        var statement = _insertMessage;
        try
        {
            Check(raw.sqlite3_bind_text(statement, 1, hub), db);
            Check(raw.sqlite3_bind_int(statement, 2, (int)kind), db);
            Check(raw.sqlite3_bind_text(statement, 3, NodeId), db);
            Check(raw.sqlite3_bind_int64(statement, 4, NowMs), db);
            Check(raw.sqlite3_bind_int64(statement, 5, NowMs + MessageExpiryMs), db);
            Check(raw.sqlite3_bind_blob(statement, 6, body), db);
            var rc = raw.sqlite3_step(statement);
            if (rc != raw.SQLITE_DONE)
            {
                Check(rc, db);
            }
        }
        finally
        {
            raw.sqlite3_reset(statement);
        }

        var id = raw.sqlite3_last_insert_rowid(db);
        LastAppendedId = id;
        AppendedInBatch = true;
        if (_logRows is not null)
        {
            _logRows++;
        }

        if (kind is MessageKind.All or MessageKind.Connections or MessageKind.Groups or MessageKind.Users)
        {
            PublishedInBatch++;
        }
        return id;
    }

    public int Execute(string sql, params (string Name, object? Value)[] parameters) => Command(sql, parameters).ExecuteNonQuery();

    public object? Scalar(string sql, params (string Name, object? Value)[] parameters) => Command(sql, parameters).ExecuteScalar();

    /// <summary>The cached command for <paramref name="sql"/> with <paramref name="parameters"/> bound.</summary>
    public SqliteCommand Command(string sql, (string Name, object? Value)[] parameters)
    {
        var command = Command(sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }

    private static void Check(int rc, sqlite3 db)
    {
        if (rc != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(rc, db);
        }
    }

    public void Dispose()
    {
        _insertMessage?.Dispose();
        _insertMessage = null;
        foreach (var command in _commands.Values)
        {
            command.Dispose();
        }

        _commands.Clear();
    }
}

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
        _logRowSpan ??= new RawStatement(Connection, Queries.SelectLogRowSpan);
        _logRows ??= _logRowSpan.ScalarInt64();
        return _logRows.Value;
    }

    /// <summary>Deletes the oldest <paramref name="count"/> rows; returns how many went.</summary>
    public int DropOldest(int count)
    {
        var deleted = Execute(Queries.DeleteOldestMessages, (Columns.Limit, count));
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

    // Hub names are few: each is encoded once, not on every row.
    private readonly Dictionary<string, byte[]> _hubNamesUtf8 = new(StringComparer.Ordinal);
    private byte[]? _nodeIdUtf8;

    private byte[] NodeIdUtf8 => _nodeIdUtf8 ??= System.Text.Encoding.UTF8.GetBytes(NodeId);

    private byte[] Utf8(string hub)
    {
        if (!_hubNamesUtf8.TryGetValue(hub, out var bytes))
        {
            bytes = System.Text.Encoding.UTF8.GetBytes(hub);
            _hubNamesUtf8[hub] = bytes;
        }

        return bytes;
    }

    // The statements every send runs, prepared once and bound by position (see RawStatement).
    private RawStatement? _insertMessage;
    private RawStatement? _logRowSpan;

    public long AppendMessage(string hub, MessageKind kind, byte[] body)
    {
        var statement = _insertMessage ??= new RawStatement(Connection, Queries.InsertMessage);
        statement.BindUtf8Text(1, Utf8(hub));
        statement.Bind(2, (long)kind);
        statement.BindUtf8Text(3, NodeIdUtf8);
        statement.Bind(4, NowMs);
        statement.Bind(5, NowMs + MessageExpiryMs);
        statement.Bind(6, body);
        statement.Execute();

        var id = raw.sqlite3_last_insert_rowid(Connection.Handle!);
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

    public void Dispose()
    {
        _insertMessage?.Dispose();
        _logRowSpan?.Dispose();
        _insertMessage = _logRowSpan = null;
        foreach (var command in _commands.Values)
        {
            command.Dispose();
        }

        _commands.Clear();
    }
}

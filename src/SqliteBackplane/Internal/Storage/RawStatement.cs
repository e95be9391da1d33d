using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// A statement prepared once on a connection's native handle and bound by position. The hot paths (the writer's
/// transaction control and insert, the reader's tail query, the safety poll) use it because Microsoft.Data.Sqlite
/// binds parameters by name and builds a data reader on every execution, which costs more than SQLite's own work
/// for these one-row statements. Not thread-safe: it belongs to the thread that owns the connection.
/// </summary>
internal sealed class RawStatement : IDisposable
{
    private readonly sqlite3 _db;
    private sqlite3_stmt? _statement;

    public RawStatement(SqliteConnection connection, string sql)
    {
        _db = connection.Handle ?? throw new InvalidOperationException("The connection is not open.");
        Check(raw.sqlite3_prepare_v2(_db, sql, out var statement));
        _statement = statement;
    }

    private sqlite3_stmt Statement => _statement ?? throw new ObjectDisposedException(nameof(RawStatement));

    public void Bind(int index, long value) => Check(raw.sqlite3_bind_int64(Statement, index, value));

    /// <summary>Binds text that is already UTF-8, saving the conversion of a value bound on every row.</summary>
    public void BindUtf8Text(int index, ReadOnlySpan<byte> utf8) =>
        // An empty span has no pointer, which SQLite would store as NULL rather than ''.
        Check(utf8.IsEmpty ? raw.sqlite3_bind_text(Statement, index, string.Empty) : raw.sqlite3_bind_text(Statement, index, utf8));

    public void Bind(int index, ReadOnlySpan<byte> value) => Check(raw.sqlite3_bind_blob(Statement, index, value));

    /// <summary>Steps once: true when a row is available, false when the statement is done.</summary>
    public bool Step()
    {
        var rc = raw.sqlite3_step(Statement);
        if (rc == raw.SQLITE_ROW)
        {
            return true;
        }

        if (rc != raw.SQLITE_DONE)
        {
            // The error details live on the connection until the reset, so read them first.
            var error = new SqliteException(ErrorMessage(rc), rc, raw.sqlite3_extended_errcode(_db));
            raw.sqlite3_reset(Statement);
            throw error;
        }

        return false;
    }

    /// <summary>Runs a statement that returns no rows, then resets it.</summary>
    public void Execute()
    {
        try
        {
            while (Step())
            {
            }
        }
        finally
        {
            Reset();
        }
    }

    /// <summary>Runs a statement that returns one integer, then resets it (ending its read transaction).</summary>
    public long ScalarInt64()
    {
        try
        {
            return Step() ? raw.sqlite3_column_int64(Statement, 0) : 0;
        }
        finally
        {
            Reset();
        }
    }

    /// <summary>Ends the current execution; a reader's read transaction ends here.</summary>
    public void Reset() => raw.sqlite3_reset(Statement);

    public long Int64(int column) => raw.sqlite3_column_int64(Statement, column);

    public int Int32(int column) => raw.sqlite3_column_int(Statement, column);

    public ReadOnlySpan<byte> Blob(int column) => raw.sqlite3_column_blob(Statement, column);

    public void Dispose()
    {
        _statement?.Dispose();
        _statement = null;
    }

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK)
        {
            throw new SqliteException(ErrorMessage(rc), rc, raw.sqlite3_extended_errcode(_db));
        }
    }

    private string ErrorMessage(int rc)
    {
        var message = raw.sqlite3_errmsg(_db).utf8_to_string();
        return $"SQLite Error {rc}: '{(string.IsNullOrEmpty(message) ? raw.sqlite3_errstr(rc).utf8_to_string() : message)}'.";
    }
}

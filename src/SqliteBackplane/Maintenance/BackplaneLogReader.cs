using Microsoft.Data.Sqlite;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane.Maintenance;

/// <summary>One row of the log with every column, as <c>sqlite-backplane tail</c> shows it.</summary>
internal sealed record LogEntry(long Id, string Hub, MessageKind Kind, string NodeId, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, byte[] Body);

/// <summary>
/// Reads the log from outside any node, for following it: one connection kept open, each read a single short
/// autocommit <c>SELECT</c>, so it never holds a read transaction (or the WAL) between polls.
/// </summary>
internal sealed class BackplaneLogReader : IDisposable
{
    private readonly SqliteBackplaneMaintenance _maintenance;
    private readonly SqliteConnection _connection;

    public BackplaneLogReader(SqliteBackplaneMaintenance maintenance)
    {
        _maintenance = maintenance;
        _connection = maintenance.OpenBackplane();
    }

    /// <summary>The cursor from which reading returns the last <paramref name="count"/> rows (the end of the log for 0).</summary>
    public long CursorBeforeLast(int count)
    {
        using var command = SqliteCommands.Create(_connection, _maintenance.Queries.SelectCursorBeforeLast, (Columns.Count, Math.Max(0, count)));
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Up to <paramref name="limit"/> rows with ids greater than <paramref name="cursor"/>, in id order.</summary>
    public List<LogEntry> ReadAfter(long cursor, int limit)
    {
        using var command = SqliteCommands.Create(_connection, _maintenance.Queries.SelectLogAfter, (Columns.Cursor, cursor), (Columns.Limit, limit));
        using var reader = command.ExecuteReader();
        var rows = new List<LogEntry>();
        while (reader.Read())
        {
            rows.Add(new LogEntry(
                reader.GetInt64(0),
                reader.GetString(1),
                (MessageKind)reader.GetInt32(2),
                reader.GetString(3),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4)),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)),
                (byte[])reader.GetValue(6)));
        }

        return rows;
    }

    public void Dispose() => _connection.Dispose();
}

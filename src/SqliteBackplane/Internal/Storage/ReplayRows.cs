using Microsoft.Data.Sqlite;

namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// Reads one hub's log between two positions for a resume's replay, on a connection of its own and in one read
/// transaction, so the group changes, the rows and the log's bounds all come from the same snapshot. The replay runs
/// on the reader thread while the attach row is applied; the reader's own read transaction has ended by then.
/// </summary>
internal sealed class ReplayRows : IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly SqliteTransaction _transaction;
    private readonly SqliteQueries _queries;

    private ReplayRows(SqliteConnection connection, SqliteQueries queries)
    {
        _connection = connection;
        _queries = queries;
        _transaction = connection.BeginTransaction(deferred: true);
    }

    /// <summary>Opens a connection to the file for one replay. Throws <see cref="InvalidOperationException"/> or <see cref="SqliteException"/>.</summary>
    public static ReplayRows Open(BackplaneDatabase database)
    {
        var connection = database.Open();
        try
        {
            return new ReplayRows(connection, database.Queries);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>The hub's GroupAdd, GroupRemove and Attach rows strictly between the two positions, newest first.</summary>
    public IEnumerable<(long Id, byte[] Body)> GroupChangesNewestFirst(string hub, long after, long before) =>
        Read(_queries.SelectHubGroupChangesBetween, hub, after, before);

    /// <summary>The hub's sends, group changes and attach rows strictly between the two positions, in log order.</summary>
    public IEnumerable<(long Id, byte[] Body)> Rows(string hub, long after, long before) => Read(_queries.SelectHubRowsBetween, hub, after, before);

    /// <summary>The lowest and highest id in the log (0, 0 when empty).</summary>
    public (long Min, long Max) Bounds()
    {
        using var command = Command(_queries.SelectLogBounds);
        using var reader = command.ExecuteReader();
        reader.Read();
        return (reader.GetInt64(Columns.LogBounds.Min), reader.GetInt64(Columns.LogBounds.Max));
    }

    public void Dispose()
    {
        _transaction.Dispose();
        _connection.Dispose();
    }

    private IEnumerable<(long Id, byte[] Body)> Read(string sql, string hub, long after, long before)
    {
        using var command = Command(sql);
        command.Parameters.AddWithValue(Columns.After, after);
        command.Parameters.AddWithValue(Columns.Before, before);
        command.Parameters.AddWithValue(Columns.Hub, hub);
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            yield return (reader.GetInt64(Columns.HubRow.Id), (byte[])reader.GetValue(Columns.HubRow.Body));
        }
    }

    private SqliteCommand Command(string sql)
    {
        var command = _connection.CreateCommand();
        command.Transaction = _transaction;
        command.CommandText = sql;
        return command;
    }
}

using Microsoft.Data.Sqlite;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// Looks into the backplane's tables read-only, the way an operator would. It relies only on table names
/// (<c>{prefix}connections</c>, <c>{prefix}groups</c>, ...), not on column names.
/// </summary>
public static class BackplaneTables
{
    /// <summary>Whether any row of <c>{prefix}{table}</c> has a text column equal to <paramref name="value"/>.</summary>
    public static bool AnyRowMentions(TempDatabase database, string tablePrefix, string table, string value)
    {
        using var connection = new SqliteConnection(database.ReadOnlyConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT * FROM \"{tablePrefix}{table}\"";
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            for (var column = 0; column < reader.FieldCount; column++)
            {
                if (!reader.IsDBNull(column) && reader.GetValue(column) is string text && text == value)
                {
                    return true;
                }
            }
        }
        return false;
    }

    /// <summary>
    /// Rows a stopped process left for another node to reap: its node row (by <paramref name="processId"/>) and the
    /// connection rows of any node that has no node row.
    /// </summary>
    public static (long NodeRows, long OrphanedConnectionRows) RowsLeftBy(TempDatabase database, string tablePrefix, int processId)
    {
        using var connection = new SqliteConnection(database.ReadOnlyConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT (SELECT count(*) FROM \"{tablePrefix}nodes\" WHERE process_id = $pid), " +
            $"(SELECT count(*) FROM \"{tablePrefix}connections\" WHERE node_id NOT IN (SELECT node_id FROM \"{tablePrefix}nodes\"))";
        command.Parameters.AddWithValue("$pid", processId);
        using var reader = command.ExecuteReader();
        reader.Read();
        return (reader.GetInt64(0), reader.GetInt64(1));
    }
}

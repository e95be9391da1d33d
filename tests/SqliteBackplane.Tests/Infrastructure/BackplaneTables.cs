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
}

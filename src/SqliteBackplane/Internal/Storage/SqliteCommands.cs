using Microsoft.Data.Sqlite;

namespace SqliteBackplane.Internal.Storage;

/// <summary>The one helper for a one-off ADO.NET command: text and named parameters (nulls bound as SQL NULL).</summary>
internal static class SqliteCommands
{
    public static SqliteCommand Create(SqliteConnection connection, string sql, params ReadOnlySpan<(string Name, object? Value)> parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }
}

using System.Globalization;
using Microsoft.Data.Sqlite;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// Plain SQLite access to a backplane file, as an operator or another program would have: its own unpooled
/// connection per call (so nothing stays open when the test deletes the file), waiting up to 30 s for locks.
/// </summary>
public static class RawSqlite
{
    public static SqliteConnection Open(string path)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, DefaultTimeout = 30 }.ToString());
        connection.Open();
        return connection;
    }

    public static SqliteConnection Open(TempDatabase database) => Open(database.Path);

    /// <summary>The first column of the first row, as a number (a count, an id).</summary>
    public static long Scalar(string path, string sql, params (string Name, object Value)[] parameters)
    {
        using var connection = Open(path);
        using var command = Command(connection, sql, parameters);
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    /// <inheritdoc cref="Scalar(string, string, ValueTuple{string, object}[])"/>
    public static long Scalar(TempDatabase database, string sql, params (string Name, object Value)[] parameters) =>
        Scalar(database.Path, sql, parameters);

    public static void Execute(SqliteConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        using var command = Command(connection, sql, parameters);
        command.ExecuteNonQuery();
    }

    /// <summary>Runs one statement on a connection of its own.</summary>
    public static void Execute(TempDatabase database, string sql, params (string Name, object Value)[] parameters)
    {
        using var connection = Open(database);
        Execute(connection, sql, parameters);
    }

    private static SqliteCommand Command(SqliteConnection connection, string sql, (string Name, object Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return command;
    }
}

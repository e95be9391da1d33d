using Microsoft.Data.Sqlite;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// A backplane database file of its own, in a fresh directory under the temp path, deleted (with its -wal and -shm
/// files) on dispose. The file itself is not created: the backplane creates it.
/// </summary>
public sealed class TempDatabase : IDisposable
{
    public TempDatabase()
    {
        Directory = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "sqlitebackplane-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        Path = System.IO.Path.Combine(Directory, "backplane.db");
    }

    /// <summary>The directory that holds the database and nothing else.</summary>
    public string Directory { get; }

    /// <summary>The database file path.</summary>
    public string Path { get; }

    /// <summary>A connection string for the backplane.</summary>
    public string ConnectionString => $"Data Source={Path}";

    /// <summary>A connection string for inspecting the file without changing it.</summary>
    public string ReadOnlyConnectionString => new SqliteConnectionStringBuilder
    {
        DataSource = Path,
        Mode = SqliteOpenMode.ReadOnly,
        Pooling = false,
    }.ToString();

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A server process may still hold the file for a moment; the temp directory is cleaned by the OS eventually.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

using Microsoft.Data.Sqlite;
using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// The backplane's view of one database file: where it is, its SQL, and how connections to it are opened and
/// configured. Opening translates SQLite's terse failures into messages that name the path and the fix.
/// </summary>
internal sealed class BackplaneDatabase
{
    private readonly string _connectionString;
    private readonly TimeSpan _busyTimeout;

    public BackplaneDatabase(SqliteBackplaneOptions options)
    {
        Options = options;
        var builder = new SqliteConnectionStringBuilder(options.ConnectionString);
        Path = System.IO.Path.GetFullPath(builder.DataSource);
        builder.DataSource = Path;
        // Connections live as long as the node; pooling would only keep file handles open after shutdown.
        builder.Pooling = false;
        // Microsoft.Data.Sqlite retries busy statements every 150 ms until this many seconds pass. Our busy handler
        // already waited BusyTimeout, so one second makes it give up at once.
        builder.DefaultTimeout = 1;
        _connectionString = builder.ToString();
        _busyTimeout = options.BusyTimeout;
        Queries = new SqliteQueries(options.TablePrefix);
    }

    // SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE (https://www.sqlite.org/c3ref/c_dbconfig_defensive.html).
    public const int DbConfigNoCheckpointOnClose = 1006;

    public string Path { get; }

    /// <summary>The options the file is used with.</summary>
    public SqliteBackplaneOptions Options { get; }

    public SqliteQueries Queries { get; }

    public bool FineGrainedBusyHandler { get; private set; }

    /// <summary>Opens and configures a connection. Throws <see cref="InvalidOperationException"/> with a clear message on failure.</summary>
    public SqliteConnection Open()
    {
        var directory = System.IO.Path.GetDirectoryName(Path);
        if (!string.IsNullOrEmpty(directory) && !Directory.Exists(directory))
        {
            throw BackplaneErrors.DirectoryMissing(Path);
        }

        CreateFileOwnerOnly();

        var connection = new SqliteConnection(_connectionString);
        try
        {
            connection.Open();
            FineGrainedBusyHandler = SqliteNative.TryInstallBusyHandler(connection, _busyTimeout);
            // Closing the last connection would otherwise checkpoint and delete the -wal and -shm files behind
            // replicators' backs (Litestream expects them to stay).
            SQLitePCL.raw.sqlite3_db_config(connection.Handle, DbConfigNoCheckpointOnClose, 1, out _);
            using (var command = connection.CreateCommand())
            {
                command.CommandText = SqliteQueries.ConnectionPragmas;
                command.ExecuteNonQuery();
            }

            if (IsReadOnly(connection))
            {
                throw BackplaneErrors.ReadOnly(Path);
            }

            return connection;
        }
        catch (SqliteException ex)
        {
            connection.Dispose();
            throw Translate(ex);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Maps a startup failure to a message that names the file and the problem.</summary>
    public Exception Translate(SqliteException ex) => ex.SqliteErrorCode switch
    {
        BackplaneErrors.SqliteNotADatabase or BackplaneErrors.SqliteCorrupt => BackplaneErrors.NotADatabase(Path, ex),
        BackplaneErrors.SqliteReadOnly => BackplaneErrors.ReadOnly(Path, ex),
        _ => BackplaneErrors.CannotOpen(Path, ex),
    };

    private static bool IsReadOnly(SqliteConnection connection)
    {
        // sqlite3_db_readonly: 1 when the file could only be opened for reading.
        return SQLitePCL.raw.sqlite3_db_readonly(connection.Handle, "main") == 1;
    }

    // A new backplane file holds message payloads: create it readable by the owner only. SQLite gives the -wal and
    // -shm files the same permissions as the database file.
    private void CreateFileOwnerOnly()
    {
        if (OperatingSystem.IsWindows() || File.Exists(Path))
        {
            return;
        }

        try
        {
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            };
            using var _ = new FileStream(Path, options);
        }
        catch (IOException) when (File.Exists(Path))
        {
            // Another process created it first.
        }
        catch (UnauthorizedAccessException)
        {
            // Let SQLite report the problem with its own open.
        }
    }
}

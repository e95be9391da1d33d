using Microsoft.Extensions.Options;
using SqliteBackplane.Internal.Configuration;

namespace SqliteBackplane.Maintenance;

/// <summary>
/// Maintenance of a backplane file on demand, one part per job: <see cref="Cleanup"/> deletes expired rows and dead
/// nodes now, <see cref="Statistics"/> reports what the file holds, <see cref="Log"/> reads the log,
/// <see cref="Compaction"/> writes a compacted copy, and <see cref="Activity"/> reads what <c>sqlite-backplane top</c>
/// shows. Works with or without a host: construct it from the same <see cref="SqliteBackplaneOptions"/> the application
/// uses (the <c>sqlite-backplane</c> command-line tool does), or resolve it from dependency injection.
/// </summary>
/// <remarks>
/// It opens a connection per call and never starts a node, so it does not appear in the nodes table. Writes take the
/// same cross-process lock as the backplane's writers, in short transactions. It never creates, deletes or replaces the
/// database or its <c>-wal</c> and <c>-shm</c> files, never runs an in-place <c>VACUUM</c> and never checkpoints.
/// </remarks>
internal sealed class SqliteBackplaneMaintenance
{
    private readonly MaintenanceFile _file;

    /// <summary>Creates the maintenance API for the backplane file and table prefix named by <paramref name="options"/>.</summary>
    /// <param name="options">
    /// The backplane options: <see cref="SqliteBackplaneOptions.ConnectionString"/> and <see cref="SqliteBackplaneOptions.TablePrefix"/>
    /// name the tables; <see cref="SqliteBackplaneOptions.NodeTimeout"/> decides which nodes are dead;
    /// <see cref="SqliteBackplaneOptions.BusyTimeout"/> bounds waits for the write lock. The values are read once, here.
    /// </param>
    /// <exception cref="OptionsValidationException">The options are invalid; the message names each problem.</exception>
    public SqliteBackplaneMaintenance(SqliteBackplaneOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        SqliteBackplaneOptionsValidator.ThrowIfInvalid(options);
        _file = new MaintenanceFile(options);
        Cleanup = new MaintenanceCleanup(_file);
        Statistics = new StatisticsReader(_file);
        Log = new MaintenanceLogReader(_file);
        Compaction = new FileCompactor(_file);
        Activity = new NodeActivityReader(_file);
    }

    /// <summary>Creates the maintenance API from the application's configured options (the constructor dependency injection uses).</summary>
    /// <param name="options">The configured backplane options.</param>
    public SqliteBackplaneMaintenance(IOptions<SqliteBackplaneOptions> options)
        : this((options ?? throw new ArgumentNullException(nameof(options))).Value)
    {
    }

    /// <summary>Gets the full path of the backplane database file.</summary>
    public string DatabasePath => _file.DatabasePath;

    /// <summary>Gets the table prefix of the backplane tables this instance maintains.</summary>
    public string TablePrefix => _file.TablePrefix;

    /// <summary>Deletes expired message rows and dead nodes now.</summary>
    public MaintenanceCleanup Cleanup { get; }

    /// <summary>Reports row counts, sizes and the nodes.</summary>
    public StatisticsReader Statistics { get; }

    /// <summary>Reads the log's entries, decoded.</summary>
    public MaintenanceLogReader Log { get; }

    /// <summary>Writes a compacted copy of the file.</summary>
    public FileCompactor Compaction { get; }

    /// <summary>Reads the nodes' published figures for <c>sqlite-backplane top</c>.</summary>
    public NodeActivityReader Activity { get; }
}

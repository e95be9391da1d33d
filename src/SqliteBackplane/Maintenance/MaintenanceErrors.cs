using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane.Maintenance;

/// <summary>
/// Thrown by <see cref="SqliteBackplaneMaintenance"/> when the file named in the options is missing, is not a SQLite
/// database, or holds no backplane tables with the configured prefix (an <see cref="InvalidOperationException"/>, so
/// callers that do not care can catch that), as opposed to a failure while working on a backplane file.
/// </summary>
/// <param name="message">What is wrong with the file, and what to change.</param>
/// <param name="inner">The SQLite error behind it, if any.</param>
internal sealed class NotABackplaneException(string message, Exception? inner = null) : InvalidOperationException(message, inner);

/// <summary>Every exception message of the maintenance API, each stating the problem and then the fix.</summary>
internal static class MaintenanceErrors
{
    public static NotABackplaneException DatabaseMissing(string databasePath) => new(Directory.Exists(databasePath)
        ? $"'{databasePath}' is a directory, not a SQLite backplane database. Point the connection string's Data Source (or --db) at the database file."
        : $"The SQLite backplane database '{databasePath}' does not exist. Check the path in the connection string's Data Source (or --db); " +
          "maintenance never creates a database.");

    public static NotABackplaneException NotADatabase(string databasePath, Exception inner) =>
        new(BackplaneErrors.NotADatabase(databasePath, inner).Message, inner);

    public static NotABackplaneException NoTables(string databasePath, string tablePrefix, IReadOnlyList<string> candidatePrefixes) => new(
        $"'{databasePath}' has no SqliteBackplane tables with prefix '{tablePrefix}'. " +
        (candidatePrefixes.Count > 0
            ? $"It has tables that look like a backplane with prefix {string.Join(", ", candidatePrefixes.Select(p => $"'{p}'"))}: set the table prefix (--prefix) to one of them."
            : "Check the path, or the table prefix (--prefix) the application uses."));

    public static InvalidOperationException NodesLive(string databasePath, IReadOnlyList<SqliteBackplaneNodeStatus> live) => new(
        $"{live.Count} node(s) are live on '{databasePath}' ({string.Join(", ", live.Select(n => $"process {n.ProcessId} on {n.MachineName}"))}); " +
        "a copy taken now would miss what they write next. Stop them first, or force the copy (--force) if losing those rows is acceptable.");

    public static IOException DestinationExists(string destinationPath) => new(
        $"'{destinationPath}' already exists and is not empty. Compaction writes a new file; choose a path that does not exist yet.");

    public static ArgumentException DestinationIsSource(string destinationPath) => new(
        $"'{destinationPath}' is the live database or one of its companion files. Compaction never replaces the live database; choose a new path.",
        "destinationPath");

    public static DirectoryNotFoundException DestinationDirectoryMissing(string destinationPath) => new(
        $"The directory of '{destinationPath}' does not exist. Create it, or choose a path in an existing directory.");

    public static IOException ReadFailed(string databasePath, Exception inner) => new(
        $"Reading the SQLite backplane database '{databasePath}' failed: {BackplaneErrors.Describe(inner)}", inner);
}

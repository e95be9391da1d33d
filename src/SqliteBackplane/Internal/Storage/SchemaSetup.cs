using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// What a file must be before the backplane uses it: WAL mode, the five tables with the configured prefix (six with
/// resume, whose table files from before it lack; <see cref="EnsureSchema"/>), and a
/// schema version this build understands. The node and the maintenance API check through here.
/// </summary>
internal static partial class SchemaSetup
{
    /// <summary>How many tables the backplane's schema has.</summary>
    public const int TableCount = 5;

    /// <summary>Whether <paramref name="prefix"/> is a valid table prefix (it goes into SQL text).</summary>
    public static bool IsValidTablePrefix(string? prefix) => prefix is not null && TablePrefixPattern().IsMatch(prefix);

    /// <summary>Switches the file to WAL mode, or throws when it cannot be (a network file system, a read-only file).</summary>
    public static void EnableWal(SqliteConnection connection, string path)
    {
        var journalMode = Convert.ToString(Scalar(connection, SqliteQueries.EnableWal), CultureInfo.InvariantCulture) ?? "";
        if (!string.Equals(journalMode, "wal", StringComparison.OrdinalIgnoreCase))
        {
            throw BackplaneErrors.WalUnavailable(path, journalMode);
        }
    }

    /// <summary>Creates the schema (when <paramref name="create"/>) or checks it exists, then checks its version. Runs in a write transaction.</summary>
    /// <remarks>
    /// The resume table (added after the first release) is created with the rest; without <paramref name="create"/> it
    /// is required only by <paramref name="resume"/>, so older files keep working for everything else.
    /// </remarks>
    public static void EnsureSchema(SqliteConnection connection, SqliteQueries queries, bool create, string path, bool resume = false)
    {
        if (create)
        {
            Execute(connection, queries.CreateSchema);
        }
        else if (CountTables(connection, queries) < TableCount)
        {
            throw BackplaneErrors.SchemaMissing(path, queries.TablePrefix);
        }
        else if (resume && Convert.ToInt64(Scalar(connection, queries.CountResumableTable), CultureInfo.InvariantCulture) == 0)
        {
            throw BackplaneErrors.ResumeTableMissing(path, queries.TablePrefix);
        }

        ThrowIfUnsupportedVersion(connection, queries, path);
    }

    /// <summary>
    /// Adds the nodes table's delivery_hold column when it is missing and <paramref name="create"/> allows it (a file from
    /// before it); returns whether the column exists. Without it the node neither publishes nor reads delivery holds
    /// (senders are then paced by this process's own connections only). Runs in a write transaction.
    /// </summary>
    public static bool EnsureDeliveryHoldColumn(SqliteConnection connection, SqliteQueries queries, bool create)
    {
        if (Convert.ToInt64(Scalar(connection, queries.CountDeliveryHoldColumn), CultureInfo.InvariantCulture) > 0)
        {
            return true;
        }

        if (!create)
        {
            return false;
        }

        Execute(connection, queries.AddDeliveryHoldColumn);
        return true;
    }

    /// <summary>How many of the backplane's tables exist with the prefix of <paramref name="queries"/>.</summary>
    public static long CountTables(SqliteConnection connection, SqliteQueries queries) =>
        Convert.ToInt64(Scalar(connection, queries.CountBackplaneTables), CultureInfo.InvariantCulture);

    /// <summary>Throws when the file's schema is missing its version or is newer than this build.</summary>
    public static void ThrowIfUnsupportedVersion(SqliteConnection connection, SqliteQueries queries, string path)
    {
        var version = Convert.ToString(Scalar(connection, queries.SelectSchemaVersion), CultureInfo.InvariantCulture);
        if (!int.TryParse(version, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) || parsed > SqliteQueries.SchemaVersion)
        {
            throw BackplaneErrors.SchemaTooNew(path, version ?? "(missing)");
        }
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = SqliteCommands.Create(connection, sql);
        return command.ExecuteScalar();
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = SqliteCommands.Create(connection, sql);
        command.ExecuteNonQuery();
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,63}$", RegexOptions.CultureInvariant)]
    private static partial Regex TablePrefixPattern();
}

using Microsoft.Data.Sqlite;
using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane.Maintenance;

/// <summary>Compaction: a copy of the file without its free pages, made while live nodes keep running.</summary>
internal sealed class FileCompactor(MaintenanceFile file)
{
    /// <summary>
    /// Writes a compacted copy of the whole database file (every table in it, not only the backplane's) to a new file
    /// with SQLite's <c>VACUUM INTO</c>. The live database, its <c>-wal</c> and <c>-shm</c> files are only read, never
    /// changed, replaced or deleted: swapping the copy in is left to the operator, with every process stopped.
    /// </summary>
    /// <param name="destinationPath">Where to write the copy: a path that does not exist yet (or an empty file), in an existing directory.</param>
    /// <param name="force">
    /// Copy even when nodes are live. The copy is consistent, but rows written after it are not in it, and swapping it in
    /// while those nodes run would corrupt their view of the file. Without it, live nodes make the call fail.
    /// </param>
    /// <param name="cancellationToken">Interrupts the copy; the partial copy is deleted.</param>
    /// <returns>The paths and sizes.</returns>
    /// <exception cref="InvalidOperationException">Nodes are live and <paramref name="force"/> is false; or the file is missing, not a SQLite database, or has no backplane tables with the prefix.</exception>
    /// <exception cref="ArgumentException"><paramref name="destinationPath"/> is the live database or one of its companion files.</exception>
    /// <exception cref="IOException"><paramref name="destinationPath"/> exists and is not empty.</exception>
    public Task<SqliteBackplaneCompaction> CompactIntoAsync(string destinationPath, bool force = false, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(destinationPath);
        var destination = Path.GetFullPath(destinationPath);
        var source = file.DatabasePath;
        var comparison = OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;
        string[] companions = [source, source + "-wal", source + "-shm", source + "-journal", source + "-backplane.lock"];
        if (companions.Any(path => string.Equals(path, destination, comparison)))
        {
            throw MaintenanceErrors.DestinationIsSource(destination);
        }

        return MaintenanceFile.RunAsync(token =>
        {
            if (!Directory.Exists(Path.GetDirectoryName(destination)))
            {
                throw MaintenanceErrors.DestinationDirectoryMissing(destination);
            }

            if (File.Exists(destination) && new FileInfo(destination).Length > 0)
            {
                throw MaintenanceErrors.DestinationExists(destination);
            }

            using var connection = file.OpenBackplane();
            var live = file.Read(() => file.ReadNodes(connection, file.NowMs()).Select(n => n.Status).Where(n => n.IsLive).ToList());
            if (live.Count > 0 && !force)
            {
                throw MaintenanceErrors.NodesLive(source, live);
            }

            var sourceBytes = MaintenanceFile.FileLength(source) + MaintenanceFile.FileLength(source + "-wal");
            var created = CreateOwnerOnly(destination);
            try
            {
                using var interrupt = token.Register(() => SQLitePCL.raw.sqlite3_interrupt(connection.Handle));
                using var command = MaintenanceFile.Command(connection, SqliteQueries.VacuumInto, (Columns.Path, destination));
                command.CommandTimeout = 0;
                command.ExecuteNonQuery();
            }
            catch (Exception ex)
            {
                if (created)
                {
                    // Only the file this call created a moment ago: never the live database.
                    TryDelete(destination);
                }

                if (ex is SqliteException { SqliteErrorCode: SqliteInterrupt } && token.IsCancellationRequested)
                {
                    throw new OperationCanceledException(token);
                }

                throw ex is SqliteException ? MaintenanceErrors.ReadFailed(source, ex) : ex;
            }

            return new SqliteBackplaneCompaction
            {
                SourcePath = source,
                DestinationPath = destination,
                SourceBytes = sourceBytes,
                DestinationBytes = MaintenanceFile.FileLength(destination),
                LiveNodeCount = live.Count,
            };
        }, cancellationToken);
    }

    private const int SqliteInterrupt = 9;

    // The copy holds message payloads like the original: readable by the owner only. Returns whether this call created it.
    private static bool CreateOwnerOnly(string path)
    {
        if (File.Exists(path))
        {
            return false;
        }

        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var _ = new FileStream(path, options);
        return true;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }
}

using System.Globalization;
using SqliteBackplane.Maintenance;

namespace SqliteBackplane.Cli;

/// <summary>
/// <c>compact</c>: writes a compacted copy with <c>VACUUM INTO</c> and explains how to swap it in. It never deletes,
/// replaces or rewrites the live database or its <c>-wal</c>/<c>-shm</c> files.
/// </summary>
internal static class CompactCommand
{
    public static async Task<int> RunAsync(SqliteBackplaneMaintenance maintenance, CliArguments arguments, TextWriter output, CancellationToken cancellationToken)
    {
        var destination = arguments.OutputPath ?? DefaultOutput(maintenance.DatabasePath);
        var result = await maintenance.Compaction.CompactIntoAsync(destination, arguments.IsForced, cancellationToken);
        var source = result.SourcePath;
        await output.WriteLineAsync($"Wrote a compacted copy of {source} to {result.DestinationPath}: " +
            $"{Formatting.Bytes(result.DestinationBytes)} (the live file and its WAL: {Formatting.Bytes(result.SourceBytes)}).");
        if (result.LiveNodeCount > 0)
        {
            await output.WriteLineAsync($"Warning: {result.LiveNodeCount} node(s) were live (--force); rows they wrote after the copy are not in it.");
        }

        await output.WriteLineAsync($"""
            The live database was not changed. To use the copy:
              1. Stop every process that uses {source} (check with: sqlite-backplane nodes --db {Quote(source)}).
              2. Move the old file and its companions aside together, so a stale WAL is never applied to the new file:
                   mv {Quote(source)} {Quote(source + ".old")}
                   mv {Quote(source + "-wal")} {Quote(source + ".old-wal")}   # if it exists
                   mv {Quote(source + "-shm")} {Quote(source + ".old-shm")}   # if it exists
              3. mv {Quote(result.DestinationPath)} {Quote(source)}
              4. Start the processes. If a replicator (Litestream) watches the file, it starts a new generation.
            """);
        return ExitCodes.Success;
    }

    private static string DefaultOutput(string databasePath)
    {
        var directory = Path.GetDirectoryName(databasePath) ?? ".";
        var stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        return Path.Combine(directory, $"{Path.GetFileNameWithoutExtension(databasePath)}.compacted-{stamp}{Path.GetExtension(databasePath)}");
    }

    private static string Quote(string path) => path.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"' or '$' or '`' or '\\')
        ? "'" + path.Replace("'", "'\\''", StringComparison.Ordinal) + "'"
        : path;
}

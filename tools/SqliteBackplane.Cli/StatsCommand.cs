using System.Text.Json;
using SqliteBackplane.Maintenance;

namespace SqliteBackplane.Cli;

/// <summary><c>stats</c>: row counts, sizes, oldest row age and nodes, read in one short read transaction.</summary>
internal static class StatsCommand
{
    public static async Task<int> RunAsync(SqliteBackplaneMaintenance maintenance, CliArguments arguments, TextWriter output, CancellationToken cancellationToken)
    {
        var stats = await maintenance.Statistics.GetStatisticsAsync(cancellationToken);
        if (arguments.IsJson)
        {
            await output.WriteLineAsync(JsonSerializer.Serialize(stats, Formatting.Json));
            return ExitCodes.Success;
        }

        var log = stats.MessageCount == 0
            ? "0 rows"
            : $"{stats.MessageCount} rows (ids {stats.FirstMessageId}..{stats.LastMessageId}), {stats.ExpiredMessageCount} expired, oldest {Formatting.Age(stats.OldestMessageAge ?? TimeSpan.Zero)} old";
        Formatting.Table(output, ["Database", stats.DatabasePath], [
            ["Table prefix", $"{stats.TablePrefix} (schema version {stats.SchemaVersion})"],
            ["File size", $"{Formatting.Bytes(stats.FileSizeBytes)} ({Formatting.Bytes(stats.FreeBytes)} in free pages)"],
            ["WAL size", Formatting.Bytes(stats.WalSizeBytes)],
            ["Messages", log],
            ["Nodes", $"{stats.NodeCount} ({stats.LiveNodeCount} live, {stats.NodeCount - stats.LiveNodeCount} dead)"],
            ["Connections", stats.ConnectionCount.ToString(System.Globalization.CultureInfo.InvariantCulture)],
            ["Group members", stats.GroupMembershipCount.ToString(System.Globalization.CultureInfo.InvariantCulture)],
        ]);

        if (stats.Nodes.Count > 0)
        {
            await output.WriteLineAsync();
            NodesCommand.WriteTable(output, stats.Nodes);
        }

        return ExitCodes.Success;
    }
}

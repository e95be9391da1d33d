using System.Globalization;
using System.Text.Json;
using SqliteBackplane.Maintenance;

namespace SqliteBackplane.Cli;

/// <summary><c>nodes</c>: every node on the file with its heartbeat age, whether it is live, and its connections.</summary>
internal static class NodesCommand
{
    public static async Task<int> RunAsync(SqliteBackplaneMaintenance maintenance, CliArguments arguments, TextWriter output, CancellationToken cancellationToken)
    {
        var nodes = await maintenance.Statistics.GetNodesAsync(cancellationToken);
        if (arguments.IsJson)
        {
            await output.WriteLineAsync(JsonSerializer.Serialize(nodes, Formatting.Json));
        }
        else if (nodes.Count == 0)
        {
            await output.WriteLineAsync("No nodes: no process is attached to this backplane.");
        }
        else
        {
            WriteTable(output, nodes);
        }

        return ExitCodes.Success;
    }

    public static void WriteTable(TextWriter output, IReadOnlyList<SqliteBackplaneNodeStatus> nodes) =>
        Formatting.Table(output, ["NODE", "STATUS", "MACHINE", "PID", "STARTED", "HEARTBEAT", "CONNECTIONS"], nodes.Select(n => new[]
        {
            n.NodeId,
            n.IsLive ? "live" : "dead",
            n.MachineName,
            n.ProcessId.ToString(CultureInfo.InvariantCulture),
            Formatting.Time(n.StartedAt),
            Formatting.Age(n.HeartbeatAge) + " ago",
            n.ConnectionCount.ToString(CultureInfo.InvariantCulture),
        }));
}

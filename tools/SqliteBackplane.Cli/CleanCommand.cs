using SqliteBackplane.Maintenance;
namespace SqliteBackplane.Cli;

/// <summary><c>clean</c>: deletes expired rows (in small transactions) and dead nodes (as a live node's reaper would) now.</summary>
internal static class CleanCommand
{
    public static async Task<int> RunAsync(SqliteBackplaneMaintenance maintenance, TextWriter output, CancellationToken cancellationToken)
    {
        var deleted = await maintenance.Cleanup.DeleteExpiredMessagesAsync(cancellationToken);
        await output.WriteLineAsync($"Deleted {deleted} expired message row(s).");

        var removed = await maintenance.Cleanup.DeleteDeadNodesAsync(cancellationToken);
        foreach (var node in removed)
        {
            await output.WriteLineAsync(
                $"Removed dead node {node.NodeId} (process {node.ProcessId} on {node.MachineName}, last heartbeat {Formatting.Age(node.HeartbeatAge)} ago) " +
                $"with its {node.ConnectionCount} connection(s).");
        }

        if (removed.Count == 0)
        {
            await output.WriteLineAsync("No dead nodes.");
        }

        return ExitCodes.Success;
    }
}

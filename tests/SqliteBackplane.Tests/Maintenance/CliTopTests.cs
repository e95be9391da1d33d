using System.Diagnostics;
using SqliteBackplane.Cli;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Maintenance;

/// <summary><c>sqlite-backplane top</c> through the tool's entry point, beside a live node on the file.</summary>
public sealed class CliTopTests
{
    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exitCode = await CliApp.RunAsync(args, output, error, CancellationToken.None).DefaultTimeout();
        return (exitCode, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Top_with_one_iteration_prints_the_log_and_each_node_then_stops()
    {
        using var database = new TempDatabase();
        await using var manager = DirectManagers.Create(database);
        await manager.SendAllAsync(ClientMethods.Receive, ["hello"]).DefaultTimeout();

        var (exitCode, output, error) = await RunAsync("top", "--db", database.Path, "--iterations", "1");

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Equal("", error);
        Assert.StartsWith($"sqlite-backplane top  {database.Path}  ", output, StringComparison.Ordinal);
        Assert.Matches(@"log: \d+ rows \(last id \d+\), - rows/s; 1 live nodes", output);
        Assert.Matches(@"NODE\s+MACHINE\s+PID\s+UPTIME\s+HEARTBEAT\s+LAG\s+CONNS\s+IN/S\s+OUT/S\s+STATE", output);
        Assert.Matches($@"\s{Environment.ProcessId}\s.*\slive", output);
        Assert.DoesNotContain("\u001b[", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Top_makes_live_nodes_publish_their_lag_connections_and_rates()
    {
        using var database = new TempDatabase();
        await using var manager = DirectManagers.Create(database);
        await manager.SendAllAsync(ClientMethods.Receive, ["hello"]).DefaultTimeout();

        // Each run marks the file watched; the node starts publishing at its next heartbeat (1 s here).
        var stopwatch = Stopwatch.StartNew();
        string output;
        do
        {
            for (var i = 0; i < 20; i++)
            {
                await manager.SendAllAsync(ClientMethods.Receive, [$"load {i}"]).DefaultTimeout();
            }

            (_, output, _) = await RunAsync("top", "--db", database.Path, "--iterations", "3", "--interval", "400");
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(30), $"The node published no figures within 30 s; top printed:{Environment.NewLine}{output}");
        }
        while (!System.Text.RegularExpressions.Regex.IsMatch(output, $@"\s{Environment.ProcessId}\s.*\s0 \(0 ms\)\s+0\s+\d+\.\d\s+\d+\.\d\s+live"));
    }
}

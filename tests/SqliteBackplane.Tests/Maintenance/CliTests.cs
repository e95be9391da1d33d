using System.Diagnostics;
using System.Text.Json;
using SqliteBackplane.Cli;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Maintenance;

/// <summary>The sqlite-backplane tool: each command through its entry point, and the built tool as a process.</summary>
public class CliTests
{
    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exitCode = await CliApp.RunAsync(args, output, error, CancellationToken.None).DefaultTimeout();
        return (exitCode, output.ToString(), error.ToString());
    }

    private static BackplaneFile FileWithRows(TempDatabase database)
    {
        var file = BackplaneFile.Create(database);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        file.InsertMessages(700, createdAtMs: now - 300_000, expiresAtMs: now - 240_000);
        file.InsertMessage(createdAtMs: now, expiresAtMs: now + 60_000, text: "fresh");
        file.InsertNode("live-node", heartbeatAtMs: now + 60_000, connections: 2, groupsPerConnection: 1, machine: "web-1", processId: 101);
        file.InsertNode("dead-node", heartbeatAtMs: now - 600_000, connections: 3, groupsPerConnection: 2, machine: "web-2", processId: 202);
        return file;
    }

    [Fact]
    public async Task Stats_prints_counts_sizes_and_nodes()
    {
        using var database = new TempDatabase();
        FileWithRows(database);

        var (exitCode, output, error) = await RunAsync("stats", "--db", database.Path);

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Equal("", error);
        Assert.Contains($"Database       {database.Path}", output);
        Assert.Contains("Table prefix   signalr_ (schema version 1)", output);
        Assert.Contains("Messages       701 rows (ids 1..701), 700 expired, oldest 5 min old", output);
        Assert.Contains("Nodes          2 (1 live, 1 dead)", output);
        Assert.Contains("Connections    5", output);
        Assert.Contains("Group members  8", output);
        Assert.Matches(@"live-node\s+live\s+web-1\s+101", output);
        Assert.Matches(@"dead-node\s+dead\s+web-2\s+202", output);
    }

    [Fact]
    public async Task Stats_as_json_has_the_statistics_fields()
    {
        using var database = new TempDatabase();
        FileWithRows(database);

        var (exitCode, output, _) = await RunAsync("stats", "--db", $"Data Source={database.Path}", "--json");

        Assert.Equal(ExitCodes.Success, exitCode);
        using var json = JsonDocument.Parse(output);
        Assert.Equal(701, json.RootElement.GetProperty("messageCount").GetInt64());
        Assert.Equal(700, json.RootElement.GetProperty("expiredMessageCount").GetInt64());
        Assert.Equal(1, json.RootElement.GetProperty("liveNodeCount").GetInt32());
        Assert.Equal(2, json.RootElement.GetProperty("nodes").GetArrayLength());
    }

    [Fact]
    public async Task Nodes_lists_live_and_dead_nodes_and_honours_node_timeout()
    {
        using var database = new TempDatabase();
        FileWithRows(database);

        var (exitCode, output, _) = await RunAsync("nodes", "--db", database.Path);
        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Matches(@"NODE\s+STATUS\s+MACHINE\s+PID\s+STARTED\s+HEARTBEAT\s+CONNECTIONS", output);
        Assert.Matches(@"dead-node\s+dead\s+web-2\s+202\s+\S+ \S+\s+10 min ago\s+3", output);

        // With a one-hour timeout, a node silent for ten minutes still counts as live.
        var (_, lenient, _) = await RunAsync("nodes", "--db", database.Path, "--node-timeout", "3600", "--json");
        using var json = JsonDocument.Parse(lenient);
        Assert.All(json.RootElement.EnumerateArray(), node => Assert.True(node.GetProperty("isLive").GetBoolean()));
    }

    [Fact]
    public async Task Nodes_on_a_backplane_without_nodes_says_so()
    {
        using var database = new TempDatabase();
        BackplaneFile.Create(database);

        var (exitCode, output, _) = await RunAsync("nodes", "--db", database.Path);

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Equal("No nodes: no process is attached to this backplane." + Environment.NewLine, output);
    }

    [Fact]
    public async Task Clean_deletes_expired_rows_and_dead_nodes()
    {
        using var database = new TempDatabase();
        var file = FileWithRows(database);

        var (exitCode, output, _) = await RunAsync("clean", "--db", database.Path);

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Contains("Deleted 700 expired message row(s).", output);
        Assert.Contains("Removed dead node dead-node (process 202 on web-2, last heartbeat 10 min ago) with its 3 connection(s).", output);
        Assert.Equal(0, file.Scalar("SELECT count(*) FROM signalr_nodes WHERE node_id = 'dead-node'"));
        Assert.Equal(2, file.Scalar("SELECT count(*) FROM signalr_connections"));
        Assert.Equal(MessageKind.NodeGone, file.LastMessage().Kind);

        var (_, again, _) = await RunAsync("clean", "--db", database.Path);
        Assert.Equal($"Deleted 0 expired message row(s).{Environment.NewLine}No dead nodes.{Environment.NewLine}", again);
    }

    [Fact]
    public async Task Compact_refuses_while_a_node_is_live_and_writes_a_copy_with_force()
    {
        using var database = new TempDatabase();
        FileWithRows(database);
        var copy = Path.Combine(database.Directory, "compacted.db");

        var (refused, _, refusal) = await RunAsync("compact", "--db", database.Path, "--output", copy);
        Assert.Equal(ExitCodes.Failed, refused);
        Assert.Contains("1 node(s) are live", refusal);
        Assert.Contains("--force", refusal);
        Assert.False(File.Exists(copy));

        var (exitCode, output, _) = await RunAsync("compact", "--db", database.Path, "--output", copy, "--force");
        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Contains($"Wrote a compacted copy of {database.Path} to {copy}", output);
        Assert.Contains("The live database was not changed.", output);
        Assert.Contains($"mv {copy} {database.Path}", output);
        Assert.True(File.Exists(copy));
        Assert.True(File.Exists(database.Path));

        var (_, statsOfCopy, _) = await RunAsync("stats", "--db", copy);
        Assert.Contains("701 rows", statsOfCopy);
    }

    [Fact]
    public async Task Compact_without_output_writes_beside_the_database_when_no_node_is_live()
    {
        using var database = new TempDatabase();
        BackplaneFile.Create(database).InsertMessage(0, 1);

        var (exitCode, output, _) = await RunAsync("compact", "--db", database.Path);

        Assert.Equal(ExitCodes.Success, exitCode);
        var written = Assert.Single(Directory.GetFiles(database.Directory, "backplane.compacted-*.db"));
        Assert.Contains(written, output);
    }

    [Fact]
    public async Task Tail_prints_the_last_rows_decoded_and_stops_after_count()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database);
        await manager.Node.EnsureStartedAsync().DefaultTimeout();
        await manager.SendAllAsync(ClientMethods.Receive, ["first"]).DefaultTimeout();
        await manager.SendGroupsAsync(["room-a", "room-b"], ClientMethods.Receive, ["to the rooms " + new string('x', 300)]).DefaultTimeout();
        await manager.SendUserAsync("alice", ClientMethods.Receive, ["hi alice"]).DefaultTimeout();
        await manager.Node.Writes.WhenWrittenAsync().DefaultTimeout();

        var (exitCode, output, error) = await RunAsync("tail", "--db", database.Path, "--last", "2", "--count", "2", "--width", "100");

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Equal("", error);
        var lines = output.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        var headers = lines.Where(l => l.StartsWith('#')).ToList();
        Assert.Equal(2, headers.Count);
        Assert.Matches($@"^#\d+  \S+ \S+  {typeof(TestHub).FullName}  Groups  targets=\[room-a, room-b\]  node={manager.Node.NodeId}$", headers[0]);
        Assert.Contains("Users  targets=[alice]", headers[1]);
        Assert.DoesNotContain(lines, l => l.Contains("first"));
        var json = lines.First(l => l.TrimStart().StartsWith("json (", StringComparison.Ordinal));
        Assert.Contains("\"target\":\"Receive\"", json);
        Assert.EndsWith("…", json);
        Assert.True(json.Length <= 100, json);
        Assert.Contains(lines, l => l.TrimStart().StartsWith("prefixedjson (", StringComparison.Ordinal));
    }

    [Fact]
    public void Payload_previews_show_text_as_text_and_binary_as_hex_within_the_width()
    {
        Assert.Equal("{\"type\":1}", LogFormatter.Preview("{\"type\":1}\u001e"u8, 40));
        Assert.Equal("{\"a\":1} | {\"b\":2}", LogFormatter.Preview("{\"a\":1}\u001e{\"b\":2}\u001e"u8, 40));
        Assert.Equal("0x9501c0", LogFormatter.Preview([0x95, 0x01, 0xC0], 40));
        Assert.Equal("0x00010203…", LogFormatter.Preview([0, 1, 2, 3, 4, 5, 6, 7], 11));
        Assert.Equal("abcdefghi…", LogFormatter.Preview("abcdefghijklmnop"u8, 10));
    }

    [Fact]
    public async Task Tail_follows_new_rows_until_count()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database);
        await manager.SendAllAsync(ClientMethods.Receive, ["history"]).DefaultTimeout();

        var output = new StringWriter();
        var error = new WatchedWriter("following the log");
        var tail = CliApp.RunAsync(["tail", "--db", database.Path, "--last", "0", "--count", "2", "--interval", "20"], output, error, CancellationToken.None);
        await error.Seen.DefaultTimeout("tail to report that it follows the log");
        Assert.False(tail.IsCompleted);
        await manager.SendAllAsync(ClientMethods.Receive, ["news-1"]).DefaultTimeout();
        await manager.SendAllAsync(ClientMethods.Receive, ["news-2"]).DefaultTimeout();
        var exitCode = await tail.DefaultTimeout();

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.DoesNotContain("history", output.ToString());
        Assert.Contains("news-1", output.ToString());
        Assert.Contains("news-2", output.ToString());
    }

    [Fact]
    public async Task Tail_ends_cleanly_on_ctrl_c()
    {
        using var database = new TempDatabase();
        BackplaneFile.Create(database);
        using var interrupt = new CancellationTokenSource();
        var output = new StringWriter();
        var error = new WatchedWriter("following the log");
        var tail = CliApp.RunAsync(["tail", "--db", database.Path, "--interval", "20"], output, error, interrupt.Token);
        await error.Seen.DefaultTimeout("tail to report that it follows the log");
        Assert.False(tail.IsCompleted);

        await interrupt.CancelAsync();
        var exitCode = await tail.DefaultTimeout();

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Equal("", output.ToString());
    }

    [Fact]
    public async Task Tail_shows_rows_it_cannot_decode()
    {
        using var database = new TempDatabase();
        var file = BackplaneFile.Create(database);
        file.InsertMessage(0, 1, kind: MessageKind.All);
        RawSqlite.Execute(database, "UPDATE signalr_messages SET body = x'0301'");

        var (exitCode, output, _) = await RunAsync("tail", "--db", database.Path, "--count", "1");

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Contains("All  undecodable (2 bytes): Envelope version 3 is not supported (this library reads versions 1 and 2).", output);
    }

    [Theory]
    [InlineData("stats")]
    [InlineData("nodes")]
    [InlineData("clean")]
    [InlineData("compact")]
    [InlineData("tail")]
    public async Task Every_command_reports_a_missing_database_with_exit_code_3(string command)
    {
        using var database = new TempDatabase();

        var (exitCode, output, error) = await RunAsync(command, "--db", database.Path);

        Assert.Equal(ExitCodes.NotABackplane, exitCode);
        Assert.Equal("", output);
        Assert.Contains($"The SQLite backplane database '{database.Path}' does not exist.", error);
        Assert.False(File.Exists(database.Path));
    }

    [Theory]
    [InlineData("stats")]
    [InlineData("nodes")]
    [InlineData("clean")]
    [InlineData("compact")]
    [InlineData("tail")]
    public async Task Every_command_reports_a_file_that_is_not_a_backplane_with_exit_code_3(string command)
    {
        using var database = new TempDatabase();
        SqliteBackplaneMaintenanceTests.CreateUnrelatedDatabase(database);

        var (exitCode, _, error) = await RunAsync(command, "--db", database.Path);

        Assert.Equal(ExitCodes.NotABackplane, exitCode);
        Assert.Contains($"'{database.Path}' has no SqliteBackplane tables with prefix 'signalr_'.", error);
    }

    [Fact]
    public async Task A_file_that_is_not_SQLite_exits_with_code_3()
    {
        using var database = new TempDatabase();
        await File.WriteAllBytesAsync(database.Path, Enumerable.Range(0, 4096).Select(i => (byte)(i * 7)).ToArray());

        var (exitCode, _, error) = await RunAsync("stats", "--db", database.Path);

        Assert.Equal(ExitCodes.NotABackplane, exitCode);
        Assert.Contains("is not a SQLite database", error);
    }

    [Theory]
    [InlineData(new[] { "stats" }, "Option '--db' is required.")]
    [InlineData(new[] { "frobnicate", "--db", "x.db" }, "Unrecognized command or argument 'frobnicate'.")]
    [InlineData(new[] { "stats", "--db", "x.db", "--force" }, "Unrecognized command or argument '--force'.")]
    [InlineData(new[] { "tail", "--db", "x.db", "--count", "zero" }, "Option '--count' needs a whole number of at least 1, not 'zero'.")]
    [InlineData(new[] { "tail", "--db" }, "Required argument missing for option: '--db'.")]
    [InlineData(new[] { "stats", "x.db" }, "Unrecognized command or argument 'x.db'.")]
    [InlineData(new[] { "tail", "--db", "x.db", "--interval", "-1" }, "Option '--interval' needs a positive number, not '-1'.")]
    [InlineData(new[] { "stats", "--db", "x.db", "--prefix", "bad-prefix" }, "TablePrefix 'bad-prefix' is not a valid table prefix.")]
    public async Task Usage_errors_exit_with_code_2_and_say_what_to_change(string[] args, string expected)
    {
        var (exitCode, output, error) = await RunAsync(args);

        Assert.Equal(ExitCodes.Usage, exitCode);
        Assert.Equal("", output);
        Assert.Contains(expected, error);
    }

    [Fact]
    public async Task Help_prints_usage()
    {
        var (exitCode, output, _) = await RunAsync("help");
        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Contains("sqlite-backplane [command] [options]", output);
        Assert.Contains("tail", output);

        var (_, tailHelp, _) = await RunAsync("tail", "--help");
        Assert.Contains("--db <path> (REQUIRED)", tailHelp);

        var (none, _, _) = await RunAsync();
        Assert.Equal(ExitCodes.Usage, none);
    }

    [Fact]
    [Trait(TestCategory.Name, TestCategory.MultiProcess)]
    public async Task The_built_tool_runs_as_a_process_with_exit_codes()
    {
        using var database = new TempDatabase();
        FileWithRows(database);

        var ok = await RunProcessAsync("stats", "--db", database.Path);
        Assert.True(ok.ExitCode == ExitCodes.Success, ok.Error);
        Assert.Contains("701 rows", ok.Output);

        var missing = await RunProcessAsync("nodes", "--db", Path.Combine(database.Directory, "nope.db"));
        Assert.Equal(ExitCodes.NotABackplane, missing.ExitCode);
        Assert.Contains("nope.db' does not exist", missing.Error);

        var usage = await RunProcessAsync("compact");
        Assert.Equal(ExitCodes.Usage, usage.ExitCode);
    }

    /// <summary>A StringWriter that completes <see cref="Seen"/> once a flush finds the awaited text in it.</summary>
    private sealed class WatchedWriter(string awaited) : StringWriter
    {
        private readonly TaskCompletionSource _seen = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Seen => _seen.Task;

        public override void Flush()
        {
            base.Flush();
            if (ToString().Contains(awaited, StringComparison.Ordinal))
            {
                _seen.TrySetResult();
            }
        }

        public override Task FlushAsync()
        {
            Flush();
            return Task.CompletedTask;
        }

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            Flush();
            return Task.CompletedTask;
        }
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunProcessAsync(params string[] args)
    {
        var tool = Path.Combine(AppContext.BaseDirectory, "SqliteBackplane.Cli.dll");
        Assert.True(File.Exists(tool), $"The tool is built beside the tests: {tool}");
        var start = new ProcessStartInfo(TestServerLocation.DotnetHost) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(tool);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().TimeoutAfter(TimeSpan.FromSeconds(60), "sqlite-backplane to exit");
        return (process.ExitCode, await output, await error);
    }
}

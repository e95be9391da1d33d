using Microsoft.AspNetCore.SignalR;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Maintenance;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Maintenance;

/// <summary>The public maintenance API against real files: rows built by hand, and real nodes.</summary>
public class SqliteBackplaneMaintenanceTests
{
    private static readonly DateTimeOffset Now = new(2030, 1, 2, 3, 4, 5, TimeSpan.Zero);

    private static SqliteBackplaneMaintenance Maintenance(TempDatabase database, TimeProvider? clock = null, Action<SqliteBackplaneOptions>? configure = null)
    {
        var options = new SqliteBackplaneOptions { ConnectionString = database.ConnectionString, TimeProvider = clock ?? new FakeTimeProvider(Now) };
        configure?.Invoke(options);
        return new SqliteBackplaneMaintenance(options);
    }

    [Fact]
    public async Task DeleteExpiredMessages_deletes_every_expired_row_in_batches_and_counts_them()
    {
        using var database = new TempDatabase();
        var file = BackplaneFile.Create(database);
        var now = Now.ToUnixTimeMilliseconds();
        file.InsertMessages(1_234, createdAtMs: now - 120_000, expiresAtMs: now - 60_000);
        file.InsertMessages(3, createdAtMs: now, expiresAtMs: now + 60_000);

        var deleted = await Maintenance(database).Cleanup.DeleteExpiredMessagesAsync().DefaultTimeout();

        Assert.Equal(1_234, deleted);
        Assert.Equal(3, file.Scalar("SELECT count(*) FROM signalr_messages"));
        Assert.Equal(0, file.Scalar($"SELECT count(*) FROM signalr_messages WHERE expires_at < {now}"));
    }

    [Fact]
    public async Task DeleteExpiredMessages_on_a_clean_log_deletes_nothing()
    {
        using var database = new TempDatabase();
        var file = BackplaneFile.Create(database);
        file.InsertMessage(Now.ToUnixTimeMilliseconds(), Now.ToUnixTimeMilliseconds() + 1);

        Assert.Equal(0, await Maintenance(database).Cleanup.DeleteExpiredMessagesAsync().DefaultTimeout());
        Assert.Equal(1, file.Scalar("SELECT count(*) FROM signalr_messages"));
    }

    [Fact]
    public async Task DeleteDeadNodes_removes_dead_nodes_with_their_connections_and_groups_and_appends_NodeGone()
    {
        using var database = new TempDatabase();
        var file = BackplaneFile.Create(database);
        var now = Now.ToUnixTimeMilliseconds();
        file.InsertNode("dead", heartbeatAtMs: now - 11_000, connections: 2, groupsPerConnection: 2, machine: "old-box", processId: 17);
        file.InsertNode("alive", heartbeatAtMs: now - 9_000, connections: 1, groupsPerConnection: 1);

        var removed = await Maintenance(database).Cleanup.DeleteDeadNodesAsync().DefaultTimeout();

        var node = Assert.Single(removed);
        Assert.Equal("dead", node.NodeId);
        Assert.Equal("old-box", node.MachineName);
        Assert.Equal(17, node.ProcessId);
        Assert.Equal(2, node.ConnectionCount);
        Assert.False(node.IsLive);
        Assert.Equal(TimeSpan.FromSeconds(11), node.HeartbeatAge);
        Assert.Equal(0, file.Scalar("SELECT count(*) FROM signalr_nodes WHERE node_id = 'dead'"));
        Assert.Equal(0, file.Scalar("SELECT count(*) FROM signalr_connections WHERE node_id = 'dead'"));
        Assert.Equal(0, file.Scalar("SELECT count(*) FROM signalr_groups WHERE connection_id LIKE 'dead-%'"));
        Assert.Equal(1, file.Scalar("SELECT count(*) FROM signalr_connections WHERE node_id = 'alive'"));
        Assert.Equal(1, file.Scalar("SELECT count(*) FROM signalr_groups WHERE connection_id LIKE 'alive-%'"));

        var (kind, envelope) = file.LastMessage();
        Assert.Equal(MessageKind.NodeGone, kind);
        var gone = Assert.IsType<NodeGoneRow>(envelope);
        Assert.Equal("dead", gone.NodeId);
        Assert.NotNull(gone.ReapedBy);
        // Before it, the presence row of its two connections leaving.
        Assert.Equal(2, file.Scalar("SELECT count(*) FROM signalr_messages"));
        Assert.Equal(1, file.Scalar($"SELECT count(*) FROM signalr_messages WHERE kind = {(int)MessageKind.ConnectionLeft}"));
    }

    [Fact]
    public async Task DeleteDeadNodes_uses_the_configured_node_timeout()
    {
        using var database = new TempDatabase();
        var file = BackplaneFile.Create(database);
        file.InsertNode("quiet", heartbeatAtMs: Now.ToUnixTimeMilliseconds() - 30_000);

        var lenient = await Maintenance(database, configure: o => o.NodeTimeout = TimeSpan.FromMinutes(1)).Cleanup.DeleteDeadNodesAsync().DefaultTimeout();
        Assert.Empty(lenient);
        Assert.Equal(1, file.Scalar("SELECT count(*) FROM signalr_nodes"));

        var strict = await Maintenance(database).Cleanup.DeleteDeadNodesAsync().DefaultTimeout();
        Assert.Equal("quiet", Assert.Single(strict).NodeId);
    }

    [Fact]
    public async Task DeleteDeadNodes_fails_client_results_waiting_on_the_dead_node_as_the_reaper_does()
    {
        using var database = new TempDatabase();
        using var survivor = DirectManagers.Create(database, o => { o.HeartbeatInterval = TimeSpan.FromMinutes(1); o.NodeTimeout = TimeSpan.FromMinutes(5); });
        await survivor.Node.EnsureStartedAsync().DefaultTimeout();
        var file = BackplaneFileOf(database);
        file.InsertNode("crashed", heartbeatAtMs: DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 60_000, connections: 1, groupsPerConnection: 1);
        var invocation = survivor.InvokeConnectionAsync<int>("crashed-c0", ClientMethods.Compute, [1]);
        // The invocation must be in the log (its target found) before the node goes; otherwise it fails as unknown.
        await Eventually.BecomesTrueAsync(() => file.Scalar("SELECT count(*) FROM signalr_messages WHERE kind = 7") == 1,
            TimeSpan.FromSeconds(15), "the client invocation row to be written");

        var removed = await new SqliteBackplaneMaintenance(new SqliteBackplaneOptions { ConnectionString = database.ConnectionString }).Cleanup.DeleteDeadNodesAsync().DefaultTimeout();

        Assert.Equal("crashed", Assert.Single(removed).NodeId);
        var ex = await Assert.ThrowsAsync<HubException>(() => invocation).DefaultTimeout();
        Assert.Equal("Connection disconnected.", ex.Message);
    }

    [Fact]
    public async Task A_real_node_whose_heartbeat_is_stale_is_removed_with_its_connections_and_groups()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database, o => { o.HeartbeatInterval = TimeSpan.FromMinutes(1); o.NodeTimeout = TimeSpan.FromMinutes(5); });
        await using var client = new FakeClient(userId: "alice");
        await manager.OnConnectedAsync(client.Connection).DefaultTimeout();
        await manager.AddToGroupAsync(client.ConnectionId, "room").DefaultTimeout();

        // Seen from ten minutes later, the node has missed its heartbeats as a hung or killed process would.
        var later = new FakeTimeProvider(DateTimeOffset.UtcNow.AddMinutes(10));
        var maintenance = Maintenance(database, later, o => o.NodeTimeout = TimeSpan.FromMinutes(5));
        var before = await maintenance.Statistics.GetNodesAsync().DefaultTimeout();
        Assert.False(Assert.Single(before).IsLive);

        var removed = await maintenance.Cleanup.DeleteDeadNodesAsync().DefaultTimeout();

        var node = Assert.Single(removed);
        Assert.Equal(manager.Node.NodeId, node.NodeId);
        Assert.Equal(Environment.ProcessId, node.ProcessId);
        Assert.Equal(1, node.ConnectionCount);
        Assert.Equal(0, RawSqlite.Scalar(database, $"SELECT count(*) FROM signalr_connections WHERE connection_id = '{client.ConnectionId}'"));
        Assert.Equal(0, RawSqlite.Scalar(database, $"SELECT count(*) FROM signalr_groups WHERE connection_id = '{client.ConnectionId}'"));
        Assert.Empty(await maintenance.Statistics.GetNodesAsync().DefaultTimeout());
    }

    [Fact]
    public async Task GetStatistics_reports_row_counts_sizes_oldest_row_nodes_and_schema_version()
    {
        using var database = new TempDatabase();
        var file = BackplaneFile.Create(database);
        var now = Now.ToUnixTimeMilliseconds();
        file.InsertMessage(createdAtMs: now - 90_000, expiresAtMs: now - 30_000);
        file.InsertMessage(createdAtMs: now - 70_000, expiresAtMs: now - 10_000);
        file.InsertMessages(3, createdAtMs: now - 1_000, expiresAtMs: now + 59_000);
        file.InsertNode("n-live", heartbeatAtMs: now - 1_500, connections: 2, groupsPerConnection: 1);
        file.InsertNode("n-dead", heartbeatAtMs: now - 45_000, connections: 1, groupsPerConnection: 3);

        var stats = await Maintenance(database).Statistics.GetStatisticsAsync().DefaultTimeout();

        Assert.Equal(database.Path, stats.DatabasePath);
        Assert.Equal("signalr_", stats.TablePrefix);
        Assert.Equal(1, stats.SchemaVersion);
        Assert.Equal(Now, stats.CapturedAt);
        Assert.Equal(5, stats.MessageCount);
        Assert.Equal(2, stats.ExpiredMessageCount);
        Assert.Equal(1, stats.FirstMessageId);
        Assert.Equal(5, stats.LastMessageId);
        Assert.Equal(TimeSpan.FromSeconds(90), stats.OldestMessageAge);
        Assert.Equal(2, stats.NodeCount);
        Assert.Equal(3, stats.ConnectionCount);
        Assert.Equal(5, stats.GroupMembershipCount);
        Assert.Equal(1, stats.LiveNodeCount);
        Assert.Equal(new FileInfo(database.Path).Length, stats.FileSizeBytes);
        Assert.Equal(File.Exists(database.Path + "-wal") ? new FileInfo(database.Path + "-wal").Length : 0, stats.WalSizeBytes);
        Assert.True(stats.FreeBytes >= 0);

        Assert.Collection(stats.Nodes,
            live =>
            {
                Assert.Equal("n-dead", live.NodeId);
                Assert.False(live.IsLive);
                Assert.Equal(TimeSpan.FromSeconds(45), live.HeartbeatAge);
                Assert.Equal(1, live.ConnectionCount);
            },
            dead =>
            {
                Assert.Equal("n-live", dead.NodeId);
                Assert.True(dead.IsLive);
                Assert.Equal(TimeSpan.FromSeconds(1.5), dead.HeartbeatAge);
                Assert.Equal(2, dead.ConnectionCount);
                Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(now - 1_500), dead.LastHeartbeat);
            });
    }

    [Fact]
    public async Task GetStatistics_of_a_new_backplane_reports_an_empty_log()
    {
        using var database = new TempDatabase();
        BackplaneFile.Create(database);

        var stats = await Maintenance(database).Statistics.GetStatisticsAsync().DefaultTimeout();

        Assert.Equal(0, stats.MessageCount);
        Assert.Null(stats.FirstMessageId);
        Assert.Null(stats.LastMessageId);
        Assert.Null(stats.OldestMessageAge);
        Assert.Empty(stats.Nodes);
        Assert.True(stats.FileSizeBytes > 0);
    }

    [Fact]
    public async Task GetStatistics_sees_a_running_node_as_live()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database);
        await using var client = new FakeClient();
        await manager.OnConnectedAsync(client.Connection).DefaultTimeout();
        await manager.SendAllAsync(ClientMethods.Receive, ["x"]).DefaultTimeout();
        await manager.Node.Writes.WhenWrittenAsync().DefaultTimeout();

        var stats = await new SqliteBackplaneMaintenance(new SqliteBackplaneOptions { ConnectionString = database.ConnectionString }).Statistics.GetStatisticsAsync().DefaultTimeout();

        var node = Assert.Single(stats.Nodes);
        Assert.Equal(manager.Node.NodeId, node.NodeId);
        Assert.True(node.IsLive);
        Assert.Equal(1, node.ConnectionCount);
        Assert.Equal(1, stats.ConnectionCount);
        Assert.True(stats.MessageCount >= 1);
    }

    [Fact]
    public async Task A_missing_file_is_reported_with_its_path_and_never_created()
    {
        using var database = new TempDatabase();
        var maintenance = Maintenance(database);

        var ex = await Assert.ThrowsAnyAsync<InvalidOperationException>(() => maintenance.Statistics.GetStatisticsAsync()).DefaultTimeout();

        Assert.Equal($"The SQLite backplane database '{database.Path}' does not exist. Check the path in the connection string's Data Source (or --db); maintenance never creates a database.", ex.Message);
        await Assert.ThrowsAnyAsync<InvalidOperationException>(() => maintenance.Cleanup.DeleteExpiredMessagesAsync()).DefaultTimeout();
        await Assert.ThrowsAnyAsync<InvalidOperationException>(() => maintenance.Cleanup.DeleteDeadNodesAsync()).DefaultTimeout();
        Assert.False(File.Exists(database.Path));
        Assert.False(File.Exists(database.Path + "-backplane.lock"));
    }

    [Fact]
    public async Task A_file_that_is_not_a_SQLite_database_is_reported()
    {
        using var database = new TempDatabase();
        await File.WriteAllTextAsync(database.Path, "This is a text file, not a database. It is long enough to have a header of 100 bytes, which SQLite checks first.");

        var ex = await Assert.ThrowsAnyAsync<InvalidOperationException>(() => Maintenance(database).Statistics.GetNodesAsync()).DefaultTimeout();

        Assert.StartsWith($"'{database.Path}' is not a SQLite database", ex.Message);
    }

    [Fact]
    public async Task A_SQLite_database_without_backplane_tables_is_reported()
    {
        using var database = new TempDatabase();
        CreateUnrelatedDatabase(database);

        var ex = await Assert.ThrowsAnyAsync<InvalidOperationException>(() => Maintenance(database).Statistics.GetStatisticsAsync()).DefaultTimeout();

        Assert.Equal($"'{database.Path}' has no SqliteBackplane tables with prefix 'signalr_'. Check the path, or the table prefix (--prefix) the application uses.", ex.Message);
    }

    [Fact]
    public async Task A_wrong_prefix_is_reported_with_the_prefixes_that_exist()
    {
        using var database = new TempDatabase();
        BackplaneFile.Create(database, "chat_");

        var ex = await Assert.ThrowsAnyAsync<InvalidOperationException>(() => Maintenance(database).Statistics.GetStatisticsAsync()).DefaultTimeout();

        Assert.Equal($"'{database.Path}' has no SqliteBackplane tables with prefix 'signalr_'. It has tables that look like a backplane with prefix 'chat_': set the table prefix (--prefix) to one of them.", ex.Message);
        var stats = await Maintenance(database, configure: o => o.TablePrefix = "chat_").Statistics.GetStatisticsAsync().DefaultTimeout();
        Assert.Equal("chat_", stats.TablePrefix);
    }

    [Fact]
    public void Invalid_options_are_rejected_by_the_constructor()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => new SqliteBackplaneMaintenance(new SqliteBackplaneOptions { TablePrefix = "x'; DROP TABLE t; --" }));
        Assert.Contains("TablePrefix", ex.Message);
    }

    [Fact]
    public async Task CompactInto_refuses_while_a_node_is_live_and_writes_nothing()
    {
        using var database = new TempDatabase();
        var file = BackplaneFile.Create(database);
        file.InsertNode("alive", heartbeatAtMs: Now.ToUnixTimeMilliseconds() - 1_000);
        var destination = Path.Combine(database.Directory, "copy.db");

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => Maintenance(database).Compaction.CompactIntoAsync(destination)).DefaultTimeout();

        Assert.StartsWith($"1 node(s) are live on '{database.Path}' (process 4242 on box)", ex.Message);
        Assert.False(File.Exists(destination));
    }

    [Fact]
    public async Task CompactInto_writes_a_compacted_copy_and_leaves_the_live_file_untouched()
    {
        using var database = new TempDatabase();
        var file = BackplaneFile.Create(database);
        var now = Now.ToUnixTimeMilliseconds();
        file.InsertMessages(2_000, createdAtMs: now - 120_000, expiresAtMs: now - 60_000);
        file.InsertMessages(5, createdAtMs: now, expiresAtMs: now + 60_000);
        file.InsertNode("alive", heartbeatAtMs: now - 1_000, connections: 1);
        var maintenance = Maintenance(database);
        await maintenance.Cleanup.DeleteExpiredMessagesAsync().DefaultTimeout();
        var sourceBytes = File.ReadAllBytes(database.Path);
        var destination = Path.Combine(database.Directory, "copy.db");

        var result = await maintenance.Compaction.CompactIntoAsync(destination, force: true).DefaultTimeout();

        Assert.Equal(database.Path, result.SourcePath);
        Assert.Equal(destination, result.DestinationPath);
        Assert.Equal(1, result.LiveNodeCount);
        Assert.Equal(new FileInfo(destination).Length, result.DestinationBytes);
        Assert.True(result.DestinationBytes < result.SourceBytes, $"copy {result.DestinationBytes} B, source {result.SourceBytes} B");
        Assert.Equal(sourceBytes, File.ReadAllBytes(database.Path));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(destination));
        }

        var copy = new SqliteBackplaneMaintenance(new SqliteBackplaneOptions { ConnectionString = $"Data Source={destination}", TimeProvider = new FakeTimeProvider(Now) });
        var stats = await copy.Statistics.GetStatisticsAsync().DefaultTimeout();
        Assert.Equal(5, stats.MessageCount);
        Assert.Equal(1, stats.ConnectionCount);
    }

    [Fact]
    public async Task CompactInto_refuses_an_existing_file_and_the_live_database_itself()
    {
        using var database = new TempDatabase();
        BackplaneFile.Create(database);
        var maintenance = Maintenance(database);
        var existing = Path.Combine(database.Directory, "existing.db");
        await File.WriteAllTextAsync(existing, "keep me");

        var exists = await Assert.ThrowsAsync<IOException>(() => maintenance.Compaction.CompactIntoAsync(existing)).DefaultTimeout();
        Assert.Equal($"'{existing}' already exists and is not empty. Compaction writes a new file; choose a path that does not exist yet.", exists.Message);
        Assert.Equal("keep me", await File.ReadAllTextAsync(existing));

        Assert.Throws<ArgumentException>(() => { _ = maintenance.Compaction.CompactIntoAsync(database.Path); });
        Assert.Throws<ArgumentException>(() => { _ = maintenance.Compaction.CompactIntoAsync(database.Path + "-wal"); });
        await Assert.ThrowsAsync<DirectoryNotFoundException>(() => maintenance.Compaction.CompactIntoAsync(Path.Combine(database.Directory, "no-such-dir", "copy.db"))).DefaultTimeout();
    }

    [Fact]
    public void The_maintenance_API_resolves_from_dependency_injection_with_the_configured_options()
    {
        using var database = new TempDatabase();
        var services = new ServiceCollection();
        services.AddSignalR().AddSqliteBackplane(database.ConnectionString, o => o.TablePrefix = "app_");
        // The registration AddSqliteBackplane is to make (see the report to the lead); TryAdd keeps this test valid once it does.
        services.TryAddSingleton<SqliteBackplaneMaintenance>();
        using var provider = services.BuildServiceProvider();

        var maintenance = provider.GetRequiredService<SqliteBackplaneMaintenance>();

        Assert.Equal(database.Path, maintenance.DatabasePath);
        Assert.Equal("app_", maintenance.TablePrefix);
    }

    internal static BackplaneFile BackplaneFileOf(TempDatabase database) => BackplaneFile.Create(database);

    internal static void CreateUnrelatedDatabase(TempDatabase database)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = database.Path, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)";
        command.ExecuteNonQuery();
    }
}

using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Data.Sqlite;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Core;

/// <summary>Properties of the log itself, checked with managers built directly on one file.</summary>
public class LogBehaviourTests
{
    [Fact]
    public async Task Direct_send_to_a_local_connection_never_overtakes_earlier_rows_from_the_same_process()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database);
        await using var client = new FakeClient();
        await manager.OnConnectedAsync(client.Connection).DefaultTimeout();

        const int rounds = 50;
        var sends = new List<Task>();
        for (var i = 0; i < rounds; i++)
        {
            // Not awaited: the broadcast is still queued when the direct send starts.
            sends.Add(manager.SendAllAsync(ClientMethods.Receive, [$"all-{i}"]));
            sends.Add(manager.SendConnectionAsync(client.ConnectionId, ClientMethods.Receive, [$"direct-{i}"]));
        }

        await Task.WhenAll(sends).DefaultTimeout();
        for (var i = 0; i < rounds; i++)
        {
            await client.AssertReceivesAsync($"all-{i}");
            await client.AssertReceivesAsync($"direct-{i}");
        }
    }

    [Fact]
    public async Task A_large_fan_out_keeps_every_connections_order_and_direct_sends_do_not_overtake_it()
    {
        // Above ConnectionLanes.MinRecipientsForLanes, rows are written by several thread-pool lanes at once.
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database);
        var clients = Enumerable.Range(0, 2 * SqliteBackplane.Internal.Delivery.ConnectionLanes.MinRecipientsForLanes).Select(_ => new FakeClient()).ToList();
        try
        {
            foreach (var client in clients)
            {
                await manager.OnConnectedAsync(client.Connection).DefaultTimeout();
            }

            const int rounds = 100;
            var first = clients[0];
            var sends = new List<Task>();
            for (var i = 0; i < rounds; i++)
            {
                sends.Add(manager.SendAllAsync(ClientMethods.Receive, [$"all-{i}"]));
                sends.Add(manager.SendConnectionAsync(first.ConnectionId, ClientMethods.Receive, [$"direct-{i}"]));
            }

            await Task.WhenAll(sends).DefaultTimeout();
            for (var i = 0; i < rounds; i++)
            {
                await first.AssertReceivesAsync($"all-{i}");
                await first.AssertReceivesAsync($"direct-{i}");
            }

            await Task.WhenAll(clients.Skip(1).Select(async client =>
            {
                for (var i = 0; i < rounds; i++)
                {
                    await client.AssertReceivesAsync($"all-{i}");
                }
            })).DefaultTimeout();

            // Exactly once: one more message is the next thing every client reads.
            await manager.SendAllAsync(ClientMethods.Receive, ["last"]).DefaultTimeout();
            await Task.WhenAll(clients.Select(client => client.AssertReceivesAsync("last"))).DefaultTimeout();
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_stalled_client_in_a_large_fan_out_is_bounded_while_the_others_get_everything()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database, o => o.MaxPendingMessagesPerConnection = 20);
        var clients = Enumerable.Range(0, 2 * SqliteBackplane.Internal.Delivery.ConnectionLanes.MinRecipientsForLanes).Select(_ => new FakeClient()).ToList();
        try
        {
            foreach (var client in clients)
            {
                await manager.OnConnectedAsync(client.Connection).DefaultTimeout();
            }

            var padding = new string('p', 8_000);
            const int messages = 200;
            for (var i = 0; i < messages; i++)
            {
                // In step with the reading clients, so only the stalled one (clients[0]) falls behind.
                await manager.SendAllAsync(ClientMethods.Receive, [$"{i:D4}{padding}"]).DefaultTimeout();
                var expected = $"{i:D4}{padding}";
                await Task.WhenAll(clients.Skip(1).Select(client => client.AssertReceivesAsync(expected))).DefaultTimeout();
            }

            Assert.True(manager.DroppedMessages > 0, "The stalled client's queue was never bounded.");
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Concurrent_sends_share_one_transaction()
    {
        using var database = new TempDatabase();
        // No heartbeat during the test: every commit counted below is one the sends caused.
        using var manager = DirectManagers.Create(database, o => { o.HeartbeatInterval = TimeSpan.FromMinutes(5); o.NodeTimeout = TimeSpan.FromMinutes(10); });
        await using var client = new FakeClient();
        await manager.OnConnectedAsync(client.Connection).DefaultTimeout();
        var commitsBefore = manager.Node.CommitCount;

        // Hold the cross-process write lock as another process's writer would, so sends queue up behind it.
        const int sends = 100;
        using (var otherWriter = new CrossProcessWriteLock(database.Path))
        {
            Assert.True(otherWriter.TryEnter(TimeSpan.FromSeconds(5)));
            for (var i = 0; i < sends; i++)
            {
                // A send returns once queued: the held lock costs its caller nothing.
                await manager.SendAllAsync(ClientMethods.Receive, [$"m{i}"]).DefaultTimeout("a send to be queued while the write lock is held");
            }

            // All accepted, none written yet.
            Assert.Equal(sends, manager.Node.Admission.Queued);
            otherWriter.Exit();
        }

        await manager.Node.WhenWrittenAsync().DefaultTimeout();
        // The writer may have taken the first send into a transaction of its own before the rest were queued.
        Assert.InRange(manager.Node.CommitCount - commitsBefore, 1, 2);
        for (var i = 0; i < sends; i++)
        {
            await client.AssertReceivesAsync($"m{i}");
        }
    }

    [Fact]
    public async Task Reader_skips_and_counts_expired_rows_and_delivers_the_rest_in_order()
    {
        using var database = new TempDatabase();
        using var sender = DirectManagers.Create(database);
        using var receiver = DirectManagers.Create(database);
        await using var client = new FakeClient();
        await receiver.OnConnectedAsync(client.Connection).DefaultTimeout();

        await sender.SendAllAsync(ClientMethods.Receive, ["before"]).DefaultTimeout();
        await sender.Node.WhenWrittenAsync().DefaultTimeout();
        InsertRawRow(database, TestHubName, MessageKind.All, TestEnvelopes.Broadcast("expired"), expiresAtMs: 1);
        await sender.SendAllAsync(ClientMethods.Receive, ["after"]).DefaultTimeout();

        await client.AssertReceivesAsync("before");
        await client.AssertReceivesAsync("after");
        Assert.Equal(1, receiver.Node.Dispatcher.ExpiredRowsSkipped);
    }

    [Fact]
    public async Task Undecodable_rows_are_skipped_and_counted_while_good_rows_around_them_arrive_and_newer_kinds_are_skipped_silently()
    {
        using var database = new TempDatabase();
        using var sender = DirectManagers.Create(database);
        using var receiver = DirectManagers.Create(database);
        await using var client = new FakeClient();
        await receiver.OnConnectedAsync(client.Connection).DefaultTimeout();

        var future = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();
        await sender.SendAllAsync(ClientMethods.Receive, ["first"]).DefaultTimeout();
        await sender.Node.WhenWrittenAsync().DefaultTimeout();
        InsertRawRow(database, TestHubName, MessageKind.All, [0x01, 0x01, 0x05], future);
        var unknownVersion = TestEnvelopes.Broadcast("from the future");
        unknownVersion[0] = 9;
        InsertRawRow(database, TestHubName, MessageKind.All, unknownVersion, future);
        InsertRawRow(database, TestHubName, MessageKind.All, [], future);
        // Kinds of a later version, with bodies this version cannot read: skipped, but neither counted nor logged.
        InsertRawRow(database, TestHubName, (MessageKind)200, [0x01, 200, 0xFF], future);
        InsertRawRow(database, "", MessageKind.Attach + 1, [0x01, (byte)(MessageKind.Attach + 1)], future);
        await sender.SendAllAsync(ClientMethods.Receive, ["second"]).DefaultTimeout();

        await client.AssertReceivesAsync("first");
        await client.AssertReceivesAsync("second");
        Assert.Equal(3, receiver.Node.Dispatcher.CorruptRowsSkipped);
    }

    [Fact]
    public async Task Cleanup_deletes_expired_rows_in_batches_and_keeps_live_ones()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database);
        await manager.Node.EnsureStartedAsync().DefaultTimeout();
        using (var connection = RawSqlite.Open(database))
        {
            // One transaction: a commit per row would spend seconds in fsync.
            RawSqlite.Execute(connection, "BEGIN IMMEDIATE");
            var body = TestEnvelopes.Broadcast("old");
            for (var i = 0; i < 1_234; i++)
            {
                InsertRawRow(connection, TestHubName, MessageKind.All, body, expiresAtMs: 1);
            }

            RawSqlite.Execute(connection, "COMMIT");
        }

        await manager.SendAllAsync(ClientMethods.Receive, ["live"]).DefaultTimeout();

        await manager.Node.RunCleanupAsync().DefaultTimeout();

        // The live send is kept (and the node's live NodeJoined presence row).
        Assert.Equal(1L, RawSqlite.Scalar(database, $"SELECT count(*) FROM signalr_messages WHERE kind = {(int)MessageKind.All}"));
        Assert.Equal(0L, RawSqlite.Scalar(database, $"SELECT count(*) FROM signalr_messages WHERE expires_at < {DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}"));
    }

    [Fact]
    public async Task A_node_that_stops_heartbeating_is_reaped_and_client_results_waiting_on_it_fail()
    {
        using var database = new TempDatabase();
        using var survivor = DirectManagers.Create(database);
        await survivor.Node.EnsureStartedAsync().DefaultTimeout();
        // A node that died without cleanup: its last heartbeat is long past.
        Execute(database, """
            INSERT INTO signalr_nodes (node_id, machine_name, process_id, started_at, heartbeat_at, wake_endpoint) VALUES ('dead', 'm', 1, 0, 0, NULL);
            INSERT INTO signalr_connections (hub, connection_id, user_id, node_id, connected_at) VALUES ($hub, 'ghost', 'u', 'dead', 0);
            INSERT INTO signalr_groups (hub, group_name, connection_id) VALUES ($hub, 'room', 'ghost');
            """);

        var invocation = survivor.InvokeConnectionAsync<int>("ghost", ClientMethods.Compute, [1]);
        await survivor.Node.RunHeartbeatAsync().DefaultTimeout();

        var ex = await Assert.ThrowsAsync<HubException>(() => invocation).DefaultTimeout();
        Assert.Equal("Connection disconnected.", ex.Message);
        Assert.Equal(0L, RawSqlite.Scalar(database, "SELECT count(*) FROM signalr_connections WHERE node_id = 'dead'"));
        Assert.Equal(0L, RawSqlite.Scalar(database, "SELECT count(*) FROM signalr_groups WHERE connection_id = 'ghost'"));
        Assert.Equal(0L, RawSqlite.Scalar(database, "SELECT count(*) FROM signalr_nodes WHERE node_id = 'dead'"));
    }

    [Fact]
    public async Task A_node_declared_dead_while_alive_re_registers_its_connections_and_groups()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database);
        await using var client = new FakeClient(userId: "alice");
        await manager.OnConnectedAsync(client.Connection).DefaultTimeout();
        await manager.AddToGroupAsync(client.ConnectionId, "room").DefaultTimeout();
        await manager.SendGroupAsync("room", ClientMethods.Receive, ["joined"]).DefaultTimeout();
        await client.AssertReceivesAsync("joined");

        // Another process reaped this node while it was paused.
        Execute(database, "DELETE FROM signalr_groups; DELETE FROM signalr_connections; DELETE FROM signalr_nodes;");
        await manager.Node.RunHeartbeatAsync().DefaultTimeout();

        Assert.Equal(1L, RawSqlite.Scalar(database, $"SELECT count(*) FROM signalr_connections WHERE connection_id = '{client.ConnectionId}' AND user_id = 'alice'"));
        Assert.Equal(1L, RawSqlite.Scalar(database, $"SELECT count(*) FROM signalr_groups WHERE connection_id = '{client.ConnectionId}' AND group_name = 'room'"));
        Assert.Equal(1L, RawSqlite.Scalar(database, $"SELECT count(*) FROM signalr_nodes WHERE node_id = '{manager.Node.NodeId}'"));
    }

    [Fact]
    public async Task Startup_reads_from_the_end_of_the_log()
    {
        using var database = new TempDatabase();
        using var first = DirectManagers.Create(database);
        await first.SendAllAsync(ClientMethods.Receive, ["history"]).DefaultTimeout();
        await first.Node.WhenWrittenAsync().DefaultTimeout();

        using var late = DirectManagers.Create(database);
        await using var client = new FakeClient();
        await late.OnConnectedAsync(client.Connection).DefaultTimeout();
        await first.SendAllAsync(ClientMethods.Receive, ["news"]).DefaultTimeout();

        await client.AssertReceivesAsync("news");
    }

    [Fact]
    public async Task Graceful_dispose_removes_the_node_its_connections_and_groups_at_once()
    {
        using var database = new TempDatabase();
        using var other = DirectManagers.Create(database);
        var leaving = DirectManagers.Create(database);
        await using var client = new FakeClient();
        await leaving.OnConnectedAsync(client.Connection).DefaultTimeout();
        await leaving.AddToGroupAsync(client.ConnectionId, "room").DefaultTimeout();
        var invocation = other.InvokeConnectionAsync<int>(client.ConnectionId, ClientMethods.Compute, [1]);
        await client.ReadInvocationAsync();

        leaving.Dispose();

        Assert.Equal(0L, RawSqlite.Scalar(database, "SELECT count(*) FROM signalr_connections"));
        Assert.Equal(0L, RawSqlite.Scalar(database, "SELECT count(*) FROM signalr_groups"));
        Assert.Equal(1L, RawSqlite.Scalar(database, "SELECT count(*) FROM signalr_nodes"));
        var ex = await Assert.ThrowsAsync<HubException>(() => invocation).DefaultTimeout();
        Assert.Equal("Connection disconnected.", ex.Message);
    }

    [Fact]
    public async Task Stopping_the_last_node_leaves_the_wal_and_shm_files_in_place()
    {
        using var database = new TempDatabase();
        var manager = DirectManagers.Create(database);
        await manager.SendAllAsync(ClientMethods.Receive, ["x"]).DefaultTimeout();

        manager.Dispose();

        // SQLite would checkpoint and delete them when its last connection closes; replicators rely on them staying.
        Assert.True(File.Exists(database.Path + "-wal"));
        Assert.True(File.Exists(database.Path + "-shm"));
    }

    [Fact]
    public async Task With_checkpoints_left_to_a_replicator_the_node_never_checkpoints()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database, o => o.RunCheckpoints = false);
        for (var i = 0; i < 1_100; i++)
        {
            await manager.SendAllAsync(ClientMethods.Receive, [$"m{i}"]).DefaultTimeout();
            // One commit per send (a send returns before its commit, so sends would otherwise share transactions).
            await manager.Node.WhenWrittenAsync().DefaultTimeout();
        }

        await manager.Node.RunCleanupAsync().DefaultTimeout();

        // Every frame since the first commit is still in the WAL: nothing was copied back into the database.
        using var connection = RawSqlite.Open(database);
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA wal_checkpoint(PASSIVE)";
        using var reader = command.ExecuteReader();
        Assert.True(reader.Read());
        Assert.True(reader.GetInt64(1) >= 1_100, $"WAL frames: {reader.GetInt64(1)}");
    }

    [Fact]
    public async Task A_client_that_stops_reading_is_bounded_and_never_holds_up_the_others()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database, o => o.MaxPendingMessagesPerConnection = 20);
        await using var reading = new FakeClient();
        await using var stalled = new FakeClient();
        await manager.OnConnectedAsync(reading.Connection).DefaultTimeout();
        await manager.OnConnectedAsync(stalled.Connection).DefaultTimeout();
        var padding = new string('p', 8_000);

        const int messages = 300;
        for (var i = 0; i < messages; i++)
        {
            // In step with the reading client, so only the stalled one falls behind (the bound is per connection).
            await manager.SendAllAsync(ClientMethods.Receive, [$"{i:D4}{padding}"]).DefaultTimeout();
            await reading.AssertReceivesAsync($"{i:D4}{padding}");
        }

        Assert.True(manager.DroppedMessages > 0, "The stalled client's queue was never bounded.");

        // Once it reads again it gets what was queued, in order, and then new messages.
        // The direct write queues behind what already waits for the stalled client: it completes as the client reads.
        var end = manager.SendConnectionAsync(stalled.ConnectionId, ClientMethods.Receive, ["end"]);
        var received = new List<int>();
        while (true)
        {
            var text = (string)(await stalled.ReadInvocationAsync()).Arguments[0]!;
            if (text == "end")
            {
                break;
            }

            received.Add(int.Parse(text[..4], System.Globalization.CultureInfo.InvariantCulture));
        }

        await end.DefaultTimeout();
        Assert.InRange(received.Count, 1, messages - 1);
        Assert.Equal(received.Order(), received);
        Assert.Equal(messages - received.Count, manager.DroppedMessages);
    }

    [Fact]
    public async Task Message_larger_than_the_limit_is_refused_with_the_option_name()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database, o => o.MaxMessageBytes = 4096);

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => manager.SendAllAsync(ClientMethods.Receive, [new string('x', 10_000)]));

        Assert.Contains("MaxMessageBytes (4096)", ex.Message);
    }

    [Fact]
    public async Task Megabyte_payload_is_delivered_intact()
    {
        using var database = new TempDatabase();
        using var sender = DirectManagers.Create(database);
        using var receiver = DirectManagers.Create(database);
        await using var client = new FakeClient();
        await receiver.OnConnectedAsync(client.Connection).DefaultTimeout();
        var payload = string.Create(1_100_000, 0, static (span, _) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = (char)('a' + i % 26);
            }
        });

        await sender.SendAllAsync(ClientMethods.Receive, [payload]).DefaultTimeout();

        await client.AssertReceivesAsync(payload);
    }

    private static readonly string TestHubName = typeof(TestHub).FullName!;

    private static void InsertRawRow(TempDatabase database, string hub, MessageKind kind, byte[] body, long expiresAtMs)
    {
        using var connection = RawSqlite.Open(database);
        InsertRawRow(connection, hub, kind, body, expiresAtMs);
    }

    private static void InsertRawRow(SqliteConnection connection, string hub, MessageKind kind, byte[] body, long expiresAtMs) =>
        RawSqlite.Execute(connection, "INSERT INTO signalr_messages (hub, kind, node_id, created_at, expires_at, body) VALUES ($hub, $kind, 'test', 0, $expires, $body)",
            ("$hub", hub), ("$kind", (int)kind), ("$expires", expiresAtMs), ("$body", body));

    private static void Execute(TempDatabase database, string sql) => RawSqlite.Execute(database, sql, ("$hub", TestHubName));
}

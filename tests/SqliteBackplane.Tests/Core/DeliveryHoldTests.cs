using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Core;

/// <summary>
/// Delivery holds: senders on one node slow down for a reading client on another node (the log carries the hold), so
/// that client loses nothing; a client that stops reading, or a node that died holding, holds senders back only briefly.
/// Two managers built separately are two nodes, as two processes would be.
/// </summary>
public sealed class DeliveryHoldTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly string Padding = new('p', 4_000);

    [Fact]
    public async Task A_client_reading_slowly_on_another_node_slows_the_senders_down_and_loses_nothing()
    {
        using var database = new TempDatabase();
        using var receiving = CreatePacedManager(database, maxPending: 1_000);
        using var sending = CreatePacedManager(database, maxPending: 1_000);
        await using var slow = new FakeClient();
        await receiving.OnConnectedAsync(slow.Connection).DefaultTimeout();
        await sending.Node.EnsureStartedAsync().DefaultTimeout();
        const int messages = 5_000;

        var reading = ReadSlowlyAsync(slow);
        for (var i = 0; i < messages; i++)
        {
            await sending.SendAllAsync(ClientMethods.Receive, [$"{i:D5}{Padding}"]).DefaultTimeout("a send paced by a slow client on the other node");
        }

        await sending.SendAllAsync(ClientMethods.Receive, ["end"]).DefaultTimeout();
        var received = await reading.DefaultTimeout("the slow client to read every message");
        output.WriteLine($"The sender waited {sending.Node.Admission.Waits} times, {sending.Node.Admission.Remote.Waits} on the other node's hold; " +
            $"{receiving.DroppedMessages} dropped on the receiving node.");
        Assert.Equal(Enumerable.Range(0, messages).Select(i => $"{i:D5}"), received);
        Assert.Equal(0, receiving.DroppedMessages);
        Assert.True(sending.Node.Admission.Remote.Waits > 0, "The sender never waited on the other node's hold, so the test did not exercise it.");
    }

    [Fact]
    public async Task A_client_that_stops_reading_on_another_node_holds_the_senders_back_only_briefly()
    {
        using var database = new TempDatabase();
        using var receiving = CreatePacedManager(database, maxPending: 1_000);
        using var sending = CreatePacedManager(database, maxPending: 1_000);
        await using var stalled = new FakeClient();
        await using var reader = new FakeClient();
        await receiving.OnConnectedAsync(stalled.Connection).DefaultTimeout();
        await receiving.OnConnectedAsync(reader.Connection).DefaultTimeout();
        await sending.Node.EnsureStartedAsync().DefaultTimeout();
        const int messages = 3_000;

        var received = Task.Run(async () =>
        {
            for (var i = 0; i < messages; i++)
            {
                await reader.AssertReceivesAsync($"{i:D5}{Padding}");
            }
        });

        // Each send completes within the default timeout although a client on the other node never reads: it counts as
        // stalled once it completes nothing for a moment, the hold ends, and its own bound drops its messages instead.
        for (var i = 0; i < messages; i++)
        {
            await sending.SendAllAsync(ClientMethods.Receive, [$"{i:D5}{Padding}"]).DefaultTimeout("a send while a client on the other node has stopped reading");
        }

        await received.DefaultTimeout("the reading client to get every message");
        Assert.True(receiving.DroppedMessages > 0, "The stalled client's messages were never bounded.");
    }

    [Fact]
    public async Task The_hold_of_a_node_that_stopped_writing_its_row_holds_senders_back_only_until_it_is_stale()
    {
        using var database = new TempDatabase();
        // A node timeout far beyond the test, so the ghost is not reaped: only its stale row can release the senders.
        using var sending = CreatePacedManager(database, nodeTimeout: TimeSpan.FromMinutes(5));
        await using var client = new FakeClient();
        await sending.OnConnectedAsync(client.Connection).DefaultTimeout();
        await sending.SendAllAsync(ClientMethods.Receive, ["first"]).DefaultTimeout();
        await client.AssertReceivesAsync("first");

        InsertSilentHoldingNode(database);

        var sends = new List<Task>();
        Task? waiting = null;
        for (var i = 0; i < 1_000 && waiting is null; i++)
        {
            var send = sending.SendAllAsync(ClientMethods.Receive, [$"{i:D5}"]);
            sends.Add(send);
            if (sending.Node.Admission.Remote.Waits > 0)
            {
                waiting = send;
            }
            else
            {
                await send.DefaultTimeout("a send before the log ran too far past the hold");
            }
        }

        Assert.True(waiting is not null, "No send waited on the hold although another live node published one.");
        Assert.False(waiting.IsCompleted, "The send waiting on a fresh hold went on at once.");
        await waiting.DefaultTimeout("the send to go on once the silent node's hold is stale");
        await sending.SendAllAsync(ClientMethods.Receive, ["end"]).DefaultTimeout("a send after the hold went stale");
        for (var i = 0; i < sends.Count; i++)
        {
            await client.AssertReceivesAsync($"{i:D5}");
        }

        await client.AssertReceivesAsync("end");
    }

    [Fact]
    public async Task A_send_held_longer_than_the_busy_timeout_fails_saying_a_client_on_another_process_is_behind()
    {
        using var database = new TempDatabase();
        using var sending = DirectManagers.Create(database, o =>
        {
            o.MaxPendingMessagesPerConnection = 100;
            o.BusyTimeout = TimeSpan.FromSeconds(1);
            o.NodeTimeout = TimeSpan.FromMinutes(5);
        });
        await sending.SendAllAsync(ClientMethods.Receive, ["first"]).DefaultTimeout();
        // Its row stays fresh through the test (written "a minute from now"), so the hold outlasts the busy timeout.
        InsertSilentHoldingNode(database, writtenAt: DateTimeOffset.UtcNow.AddMinutes(1));

        var error = await Assert.ThrowsAsync<TimeoutException>(async () =>
        {
            for (var i = 0; i < 1_000; i++)
            {
                await sending.SendAllAsync(ClientMethods.Receive, [$"{i:D5}"]).DefaultTimeout("a send held by another node (it fails after the busy timeout)");
            }
        });
        Assert.Contains("on another process sharing the file is behind", error.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(SqliteBackplaneOptions.BusyTimeout), error.Message, StringComparison.Ordinal);
    }

    // A node on another machine (so crash detection does not probe it) that published a hold at the log's end and then
    // went silent; its row counts as fresh for DeliveryHolds.StaleAfter after writtenAt (default: now).
    private static void InsertSilentHoldingNode(TempDatabase database, DateTimeOffset? writtenAt = null) =>
        RawSqlite.Execute(database,
            "INSERT INTO signalr_nodes (node_id, machine_name, process_id, started_at, heartbeat_at, wake_endpoint, delivery_hold) " +
            "VALUES ('ghost', 'elsewhere', 1, $now, $now, NULL, (SELECT max(id) FROM signalr_messages))",
            ("$now", (writtenAt ?? DateTimeOffset.UtcNow).ToUnixTimeMilliseconds()));

    // Reads every message, slower than a sender flat out but always reading; returns the first five characters of each.
    private static Task<List<string>> ReadSlowlyAsync(FakeClient client) => Task.Run(async () =>
    {
        var received = new List<string>();
        while (true)
        {
            var text = (string)(await client.ReadInvocationAsync()).Arguments[0]!;
            if (text == "end")
            {
                return received;
            }

            received.Add(text[..5]);
            if (received.Count % 5 == 0)
            {
                await Task.Delay(1);
            }
        }
    });

    // Drops beyond maxPending messages waiting for one client; a hold begins at a twentieth of that and lets the log run
    // a quarter of it past the hold, which leaves room for what is committed before the senders read the hold.
    private static SqliteHubLifetimeManager<TestHub> CreatePacedManager(TempDatabase database, int maxPending = 100, TimeSpan? nodeTimeout = null) =>
        DirectManagers.Create(database, o =>
        {
            o.MaxPendingMessagesPerConnection = maxPending;
            o.MaxQueuedMessages = 16;
            o.MaxReaderLag = 32;
            if (nodeTimeout is { } timeout)
            {
                o.NodeTimeout = timeout;
            }
        });
}

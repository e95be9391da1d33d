using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Core;

/// <summary>The log keeps one order: a direct send never overtakes earlier rows, a large fan-out keeps every connection's order, concurrent sends share one transaction, and a new node starts at the end of the log. Managers built directly on one file.</summary>
public class LogOrderingTests
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

        await manager.Node.Writes.WhenWrittenAsync().DefaultTimeout();
        // The writer may have taken the first send into a transaction of its own before the rest were queued.
        Assert.InRange(manager.Node.CommitCount - commitsBefore, 1, 2);
        for (var i = 0; i < sends; i++)
        {
            await client.AssertReceivesAsync($"m{i}");
        }
    }

    [Fact]
    public async Task Startup_reads_from_the_end_of_the_log()
    {
        using var database = new TempDatabase();
        using var first = DirectManagers.Create(database);
        await first.SendAllAsync(ClientMethods.Receive, ["history"]).DefaultTimeout();
        await first.Node.Writes.WhenWrittenAsync().DefaultTimeout();

        using var late = DirectManagers.Create(database);
        await using var client = new FakeClient();
        await late.OnConnectedAsync(client.Connection).DefaultTimeout();
        await first.SendAllAsync(ClientMethods.Receive, ["news"]).DefaultTimeout();

        await client.AssertReceivesAsync("news");
    }
}

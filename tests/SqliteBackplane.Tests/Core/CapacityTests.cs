using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using SqliteBackplane.Internal.Configuration;

namespace SqliteBackplane.Tests.Core;

public class CapacityTests
{
    [Fact]
    public async Task At_capacity_sends_are_rejected_with_a_clear_exception_and_nothing_is_written()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database, o => { o.MaxLogRows = 100; o.LogFullMode = SqliteBackplaneLogFullMode.RejectNewMessages; });
        await manager.Node.EnsureStartedAsync().DefaultTimeout();
        // Presence rows (the node's NodeJoined) take their place in the log too.
        var before = RawSqlite.Scalar(database, "SELECT count(*) FROM signalr_messages");
        for (var i = 0; i < 100 - before; i++)
        {
            await manager.SendAllAsync(ClientMethods.Receive, [$"m{i}"]).DefaultTimeout();
        }

        var ex = await Assert.ThrowsAsync<SqliteBackplaneFullException>(() => manager.SendAllAsync(ClientMethods.Receive, ["one too many"])).DefaultTimeout();

        Assert.Equal(100, ex.Capacity);
        Assert.StartsWith("The SQLite backplane log holds 100 rows, at the capacity of 100 set by SqliteBackplaneOptions.MaxLogRows; the message was not sent.", ex.Message);
        Assert.Equal(100L, RawSqlite.Scalar(database, "SELECT count(*) FROM signalr_messages"));
    }

    [Fact]
    public async Task A_rejected_send_fails_alone_when_it_shares_a_transaction_with_others()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database, o => { o.MaxLogRows = 100; o.LogFullMode = SqliteBackplaneLogFullMode.RejectNewMessages; });
        await using var client = new FakeClient();
        await manager.OnConnectedAsync(client.Connection).DefaultTimeout();
        // Presence rows (NodeJoined, ConnectionJoined) take their place in the log too.
        var room = 100 - (int)RawSqlite.Scalar(database, "SELECT count(*) FROM signalr_messages");

        var sends = Enumerable.Range(0, 150).Select(i => manager.SendAllAsync(ClientMethods.Receive, [$"m{i}"])).ToList();
        await Task.WhenAll(sends.Select(s => s.ContinueWith(_ => { }, TaskScheduler.Default))).DefaultTimeout();

        Assert.Equal(room, sends.Count(s => s.IsCompletedSuccessfully));
        Assert.All(sends.Where(s => s.IsFaulted), s => Assert.IsType<SqliteBackplaneFullException>(s.Exception!.InnerException));
        // The accepted ones are the first that fit, and they arrive.
        Assert.True(sends.Take(room).All(s => s.IsCompletedSuccessfully));
        for (var i = 0; i < room; i++)
        {
            await client.AssertReceivesAsync($"m{i}");
        }
    }

    [Fact]
    public async Task Drop_oldest_keeps_the_log_at_its_capacity_and_keeps_the_newest_rows()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database, o => o.MaxLogRows = 100);
        await using var client = new FakeClient();
        await manager.OnConnectedAsync(client.Connection).DefaultTimeout();

        for (var i = 0; i < 250; i++)
        {
            await manager.SendAllAsync(ClientMethods.Receive, [$"m{i}"]).DefaultTimeout();
        }

        await manager.Node.Writes.WhenWrittenAsync().DefaultTimeout();
        // Only the newest 100 sends remain (the presence rows written before them went first).
        Assert.Equal(100L, RawSqlite.Scalar(database, "SELECT count(*) FROM signalr_messages"));
        Assert.Equal(100L, RawSqlite.Scalar(database, "SELECT count(*) FROM signalr_messages WHERE kind = 1"));
        Assert.Equal(RawSqlite.Scalar(database, "SELECT max(id) FROM signalr_messages") - 99, RawSqlite.Scalar(database, "SELECT min(id) FROM signalr_messages"));
    }

    [Fact]
    public async Task Overrides_give_matching_groups_and_hubs_their_own_capacity()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database, o =>
        {
            o.LogFullMode = SqliteBackplaneLogFullMode.RejectNewMessages;
            o.LogCapacityOverrides["group:bulk-*"] = 10;
        });
        using var otherHub = DirectManagers.Create<OtherHub>(database, o =>
        {
            o.LogFullMode = SqliteBackplaneLogFullMode.RejectNewMessages;
            o.LogCapacityOverrides["hub:Other?ub"] = 10;
        });
        for (var i = 0; i < 10; i++)
        {
            await manager.SendAllAsync(ClientMethods.Receive, [$"m{i}"]).DefaultTimeout();
        }

        var bulk = await Assert.ThrowsAsync<SqliteBackplaneFullException>(() => manager.SendGroupsAsync(["vip", "bulk-7"], ClientMethods.Receive, ["x"])).DefaultTimeout();
        Assert.Contains("set by SqliteBackplaneOptions.LogCapacityOverrides[\"group:bulk-*\"]", bulk.Message);
        await manager.SendGroupAsync("vip", ClientMethods.Receive, ["still fine"]).DefaultTimeout();
        await Assert.ThrowsAsync<SqliteBackplaneFullException>(() => otherHub.SendAllAsync(ClientMethods.Receive, ["x"])).DefaultTimeout();
    }

    [Theory]
    [InlineData("alerts-*", 10, "does not say what it matches")]
    [InlineData("group:alerts-*", 0, "set it to 1 or more")]
    public void Bad_overrides_are_rejected_naming_the_key(string key, int capacity, string expected)
    {
        var options = new SqliteBackplaneOptions();
        options.LogCapacityOverrides[key] = capacity;

        var failure = Assert.Single(SqliteBackplaneOptionsValidator.Check(options));

        Assert.Contains("SqliteBackplaneOptions.LogCapacityOverrides", failure);
        Assert.Contains(expected, failure);
    }

    [Fact]
    public void A_tiny_log_is_rejected()
    {
        var failure = Assert.Single(SqliteBackplaneOptionsValidator.Check(new SqliteBackplaneOptions { MaxLogRows = 5 }));

        Assert.Equal("SqliteBackplaneOptions.MaxLogRows is 5; set it to 100 or more.", failure);
    }
}

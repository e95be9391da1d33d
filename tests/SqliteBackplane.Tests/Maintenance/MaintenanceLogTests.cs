using SqliteBackplane.Maintenance;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Maintenance;

/// <summary>Reading the log through the public maintenance API, as the sqlite-backplane tool does.</summary>
public class MaintenanceLogTests
{
    [Fact]
    public async Task The_log_reads_in_id_order_from_a_position_with_envelopes_decoded()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database);
        await manager.SendAllAsync(ClientMethods.Receive, ["first"]).DefaultTimeout();
        await manager.SendGroupsAsync(["room-a"], ClientMethods.Receive, ["to the room"]).DefaultTimeout();
        await manager.SendUserAsync("alice", ClientMethods.Receive, ["hi alice"]).DefaultTimeout();
        // A send returns once queued; the log is read from the file, so wait for the commit.
        await manager.Node.Writes.WhenWrittenAsync().DefaultTimeout();
        var maintenance = new SqliteBackplaneMaintenance(new SqliteBackplaneOptions { ConnectionString = database.ConnectionString });

        var position = await maintenance.Log.GetLogPositionAsync(lastCount: 2).DefaultTimeout();
        var entries = await maintenance.Log.ReadLogAsync(position, maxCount: 10).DefaultTimeout();

        Assert.Equal(2, entries.Count);
        Assert.Equal(["Groups", "Users"], entries.Select(e => e.Kind));
        Assert.Equal(["room-a"], entries[0].Targets);
        Assert.Equal(["alice"], entries[1].Targets);
        Assert.True(entries[0].Id < entries[1].Id);
        Assert.All(entries, e => Assert.Equal(manager.Node.NodeId, e.NodeId));
        Assert.All(entries, e => Assert.Null(e.DecodeError));
        Assert.Contains(entries[1].Payloads, p => p.ProtocolName == "json" && System.Text.Encoding.UTF8.GetString(p.Bytes.Span).Contains("hi alice"));

        // From the end: nothing until something new is written; then exactly that.
        var end = await maintenance.Log.GetLogPositionAsync().DefaultTimeout();
        Assert.Equal(entries[1].Id, end);
        Assert.Empty(await maintenance.Log.ReadLogAsync(end, 10).DefaultTimeout());
        await manager.SendAllAsync(ClientMethods.Receive, ["news"]).DefaultTimeout();
        await manager.Node.Writes.WhenWrittenAsync().DefaultTimeout();
        var news = Assert.Single(await maintenance.Log.ReadLogAsync(end, 10).DefaultTimeout());
        Assert.Equal("All", news.Kind);

        // Pages: maxCount bounds each read. The node's start wrote the first row (its NodeJoined presence row).
        var firstPage = await maintenance.Log.ReadLogAsync(0, 2).DefaultTimeout();
        Assert.Equal(["NodeJoined", "All"], firstPage.Select(e => e.Kind));
        Assert.Equal([manager.Node.NodeId], firstPage[0].Targets);
        Assert.Contains("\"first\"", System.Text.Encoding.UTF8.GetString(firstPage[1].Payloads.First(p => p.ProtocolName == "json").Bytes.Span));
    }

    [Fact]
    public async Task Reading_the_log_rejects_bad_arguments_and_files_that_are_not_a_backplane()
    {
        using var database = new TempDatabase();
        var maintenance = new SqliteBackplaneMaintenance(new SqliteBackplaneOptions { ConnectionString = database.ConnectionString });

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => maintenance.Log.ReadLogAsync(0, 0));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => maintenance.Log.GetLogPositionAsync(-1));
        var missing = await Assert.ThrowsAsync<NotABackplaneException>(() => maintenance.Log.ReadLogAsync(0, 10).DefaultTimeout());
        Assert.Contains("does not exist", missing.Message);
        Assert.False(File.Exists(database.Path));
    }
}

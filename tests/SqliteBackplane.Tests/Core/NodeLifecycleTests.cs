using Microsoft.AspNetCore.SignalR;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Core;

/// <summary>A node's life on the file: reaped when its heartbeats stop (failing client results waiting on it), re-registered when declared dead while alive, and removed with its connections and groups at once when disposed.</summary>
public class NodeLifecycleTests
{
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

    private static readonly string TestHubName = typeof(TestHub).FullName!;

    private static void Execute(TempDatabase database, string sql) => RawSqlite.Execute(database, sql, ("$hub", TestHubName));
}

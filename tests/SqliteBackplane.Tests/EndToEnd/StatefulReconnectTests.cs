using Microsoft.AspNetCore.Http.Connections;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.EndToEnd;

/// <summary>
/// The official .NET client's stateful reconnect (<c>WithStatefulReconnect</c>, <c>AllowStatefulReconnects</c> on the
/// hub) across a transport drop, with the messages coming through the SQLite backplane from the other process: the
/// server must count backplane deliveries in its reconnect buffer, so the client neither loses nor duplicates one.
/// </summary>
[Collection(MultiProcessCollection.Name)]
public sealed class StatefulReconnectTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    [Fact]
    public async Task Dotnet_client_with_stateful_reconnect_loses_and_duplicates_no_backplane_message_across_a_transport_drop()
    {
        var settings = new TestServerSettings { DatabasePath = Database.Path };
        var first = await StartAsync(settings, "server 1");
        var second = await StartAsync(settings, "server 2");
        var network = new DroppableNetwork();
        var alice = DisposeAfterTest(await TestClient.ConnectAsync(
            new UriBuilder(first.Address) { Path = HubPaths.Test }.Uri, "alice", HubProtocolKind.Json, HttpTransportType.WebSockets,
            $"alice on {first.Name}", network.Configure, statefulReconnect: true, new OutputLog("alice's client", Output)));
        var control = await ConnectAsync(first, "control");
        var bob = await ConnectAsync(second, "bob");
        var group = $"room-{Guid.NewGuid():N}";
        await bob.InvokeAsync(nameof(TestHub.AddToGroup), alice.ConnectionId, group);
        await bob.InvokeAsync(nameof(TestHub.AddToGroup), control.ConnectionId, group);

        var expected = new List<string>();
        await SendAsync(bob, group, 0, 10, expected);
        Assert.Equal(expected, await alice.ReceiveAsync(expected.Count));

        // The network fails under alice: no close frame. Her reconnect is held until server 1 has dispatched the
        // messages bob sends meanwhile (control, on server 1, has received the last of them).
        network.HoldConnects();
        network.DropAll();
        var aliceSendsWhileDown = alice.InvokeAsync(nameof(TestHub.SendGroup), group, "from alice while down");
        await SendAsync(bob, group, 10, 20, expected);
        // control has had all 30 so far: server 1 has dispatched them, 20 of them while alice had no transport.
        Assert.Equal(expected, await control.ReceiveAsync(expected.Count));
        Assert.False(aliceSendsWhileDown.IsCompleted, "alice's invocation completed while her transport was down.");
        network.ReleaseConnects();
        await aliceSendsWhileDown;
        expected.Add("from alice while down");
        await SendAsync(bob, group, 30, 5, expected);

        // Everything after the first ten: the twenty dispatched while she was down (replayed once), her own, and the last five.
        var afterDrop = expected.Skip(10).ToList();
        Assert.Equal(afterDrop, await alice.ReceiveAsync(afterDrop.Count));
        Assert.Equal(alice.ConnectionId, await alice.InvokeAsync<string>(nameof(TestHub.GetConnectionId)));
        Assert.False(alice.Closed.IsCompleted, "alice's connection closed instead of reconnecting.");
        Assert.Equal(2, network.Connections);
        await control.AssertReceivesAsync("from alice while down");
        for (var n = 30; n < 35; n++)
        {
            await control.AssertReceivesAsync($"m{n}");
        }
        await TestClient.AssertNoMoreMessagesAsync(bob, alice, control);
        Output.WriteLine($"alice received {expected.Count} messages exactly once, in order, over {network.Connections} WebSocket connections on connection {alice.ConnectionId}.");
    }

    private static async Task SendAsync(TestClient sender, string group, int from, int count, List<string> expected)
    {
        for (var n = from; n < from + count; n++)
        {
            await sender.InvokeAsync(nameof(TestHub.SendGroup), group, $"m{n}");
            expected.Add($"m{n}");
        }
    }
}

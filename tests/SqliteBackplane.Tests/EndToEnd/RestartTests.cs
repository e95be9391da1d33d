using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.EndToEnd;

/// <summary>
/// A blue/green-style restart: one server process stops gracefully and starts again on the same file and port while
/// the other keeps chatting. Clients that reconnect get new messages, and nothing from before the restart is delivered
/// again (a restarted node reads the log from its end, and the survivor never re-reads what it dispatched).
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
public sealed class RestartTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    private const string Room = "room";

    [Fact]
    public async Task A_server_restarted_on_the_same_file_serves_reconnected_clients_and_replays_nothing()
    {
        var settings = new TestServerSettings { DatabasePath = Database.Path };
        var survivor = await StartAsync(settings, "survivor");
        var restarting = await StartAsync(settings, "restarting");

        var bob = await ConnectAsync(survivor, "bob");
        var carol = await ConnectAsync(survivor, "carol");
        var alice = await ConnectAsync(restarting, "alice");
        await bob.InvokeAsync(nameof(TestHub.AddToGroup), bob.ConnectionId, Room);
        await bob.InvokeAsync(nameof(TestHub.AddToGroup), alice.ConnectionId, Room);

        // Before the restart: chat in both directions.
        await bob.InvokeAsync(nameof(TestHub.SendGroup), Room, "before-1 from bob");
        await alice.InvokeAsync(nameof(TestHub.SendGroup), Room, "before-2 from alice");
        await bob.InvokeAsync(nameof(TestHub.SendUser), "alice", "before-3 to alice");
        await AssertReceivesExactlyAsync(alice, "before-1 from bob", "before-2 from alice", "before-3 to alice");
        await AssertReceivesExactlyAsync(bob, "before-1 from bob", "before-2 from alice");

        // Graceful stop: the server drains, its node removes its rows, its clients are disconnected.
        var port = restarting.Port;
        Assert.Equal(0, await restarting.StopAsync());
        var closedWith = await alice.Closed.DefaultTimeout("alice's connection to close when her server stopped");
        Output.WriteLine($"alice's connection closed when her server stopped: {closedWith?.Message ?? "without error"}");
        Assert.Empty(await bob.InvokeAsync<string[]>(nameof(TestHub.GetUserConnections), "alice"));

        // The survivor keeps chatting while the other process is down.
        await bob.InvokeAsync(nameof(TestHub.SendGroup), Room, "during-1 from bob");
        await carol.InvokeAsync(nameof(TestHub.SendAll), "during-2 from carol");
        await AssertReceivesExactlyAsync(bob, "during-1 from bob", "during-2 from carol");

        // Restart on the same file and port; alice reconnects (a new connection, so she joins the room again).
        var restarted = await StartAsync(settings, "restarted", port);
        Assert.Equal(port, restarted.Port);
        var aliceAgain = await ConnectAsync(restarted, "alice");
        await aliceAgain.InvokeAsync(nameof(TestHub.AddToGroup), aliceAgain.ConnectionId, Room);
        Assert.Equal(new[] { aliceAgain.ConnectionId }, await bob.InvokeAsync<string[]>(nameof(TestHub.GetUserConnections), "alice"));

        // After the restart: new messages flow both ways, and the first thing alice receives is new, so nothing from
        // before the restart (or sent while it was down) was replayed to her.
        await bob.InvokeAsync(nameof(TestHub.SendGroup), Room, "after-1 from bob");
        await aliceAgain.InvokeAsync(nameof(TestHub.SendGroup), Room, "after-2 from alice");
        await carol.InvokeAsync(nameof(TestHub.SendUser), "alice", "after-3 to alice");
        await aliceAgain.InvokeAsync(nameof(TestHub.SendAll), "marker from alice");
        await AssertReceivesExactlyAsync(aliceAgain, "after-1 from bob", "after-2 from alice", "after-3 to alice", "marker from alice");
        await AssertReceivesExactlyAsync(bob, "after-1 from bob", "after-2 from alice", "marker from alice");

        // carol was never in the room: her whole stream is the two broadcasts, each once, in order.
        await AssertReceivesExactlyAsync(carol, "during-2 from carol", "marker from alice");
    }

    private static async Task AssertReceivesExactlyAsync(TestClient client, params string[] expected)
    {
        var received = await client.ReceiveAsync(expected.Length);
        Assert.True(expected.SequenceEqual(received),
            $"{client.Description} expected [{string.Join(", ", expected)}] but received [{string.Join(", ", received)}].");
    }
}

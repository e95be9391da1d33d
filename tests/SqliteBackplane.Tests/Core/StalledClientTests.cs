using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Core;

/// <summary>A client that stops reading is bounded: its backlog stays capped and every other connection still gets everything.</summary>
public class StalledClientTests
{
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
}

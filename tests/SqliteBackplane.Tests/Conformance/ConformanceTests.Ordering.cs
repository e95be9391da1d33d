using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Conformance;

public abstract partial class ConformanceTests
{
    private const int SendersPerServer = 3;
    private const int MessagesPerSender = 40;

    [Fact]
    public async Task Concurrent_senders_on_every_server_deliver_each_message_once_in_per_sender_order()
    {
        var receivers = new[] { await ConnectAsync(0, "receiver-0"), await ConnectAsync(1, "receiver-1") };
        var senders = new List<TestClient>();
        for (var server = 0; server < 2; server++)
        {
            for (var i = 0; i < SendersPerServer; i++)
            {
                senders.Add(await ConnectAsync(server, $"sender-{server}-{i}"));
            }
        }
        var group = UniqueName("ordering");
        foreach (var receiver in receivers)
        {
            await receiver.InvokeAsync(nameof(TestHub.AddToGroup), receiver.ConnectionId, group);
        }

        // Each sender awaits each send (so its own order is defined); the senders run concurrently.
        await Task.WhenAll(senders.Select((sender, index) => SendSequenceAsync(sender, index, group)));

        foreach (var receiver in receivers)
        {
            var received = await receiver.ReceiveAsync(senders.Count * MessagesPerSender);
            for (var sender = 0; sender < senders.Count; sender++)
            {
                var fromSender = received.Where(m => m.StartsWith($"s{sender}:", StringComparison.Ordinal)).ToList();
                Assert.Equal(Enumerable.Range(0, MessagesPerSender).Select(n => $"s{sender}:{n}"), fromSender);
            }
        }
        await AssertNoMoreMessagesAsync(senders[0], receivers);
    }

    [Fact]
    public async Task A_send_made_after_its_sender_received_another_is_delivered_after_it_everywhere()
    {
        // Causality through delivery: whichever server each sender is on, a message sent after its sender saw the
        // previous one is ordered after it for every receiver.
        var first = await ConnectAsync(0, "first");
        var second = await ConnectAsync(1, "second");
        var receivers = new[] { await ConnectAsync(0, "receiver-0"), await ConnectAsync(1, "receiver-1") };
        var group = UniqueName("order");
        foreach (var member in new[] { first, second }.Concat(receivers))
        {
            await first.InvokeAsync(nameof(TestHub.AddToGroup), member.ConnectionId, group);
        }

        const int rounds = 20;
        var expected = Enumerable.Range(0, rounds).Select(round => $"m{round}").ToList();
        var seen = new Dictionary<TestClient, int> { [first] = 0, [second] = 0 };
        for (var round = 0; round < rounds; round++)
        {
            var sender = round % 2 == 0 ? first : second;
            Assert.Equal(expected.Skip(seen[sender]).Take(round - seen[sender]), await sender.ReceiveAsync(round - seen[sender]));
            seen[sender] = round;
            await sender.InvokeAsync(nameof(TestHub.SendGroup), group, expected[round]);
        }

        foreach (var receiver in receivers)
        {
            Assert.Equal(expected, await receiver.ReceiveAsync(expected.Count));
        }
        foreach (var sender in new[] { first, second })
        {
            Assert.Equal(expected.Skip(seen[sender]), await sender.ReceiveAsync(rounds - seen[sender]));
        }
        await AssertNoMoreMessagesAsync(first, [first, second, .. receivers]);
    }

    [Fact]
    public async Task A_send_that_starts_after_another_returns_on_the_same_server_is_delivered_after_it_everywhere()
    {
        // Two senders on one server: a send that starts after another one's call returned is ordered after it.
        var first = await ConnectAsync(0, "first");
        var second = await ConnectAsync(0, "second");
        var receivers = new[] { await ConnectAsync(0, "receiver-0"), await ConnectAsync(1, "receiver-1") };
        var group = UniqueName("order");
        foreach (var receiver in receivers)
        {
            await first.InvokeAsync(nameof(TestHub.AddToGroup), receiver.ConnectionId, group);
        }

        var expected = new List<string>();
        for (var round = 0; round < 20; round++)
        {
            var sender = round % 2 == 0 ? first : second;
            await sender.InvokeAsync(nameof(TestHub.SendGroup), group, $"m{round}");
            expected.Add($"m{round}");
        }

        foreach (var receiver in receivers)
        {
            Assert.Equal(expected, await receiver.ReceiveAsync(expected.Count));
        }
        await AssertNoMoreMessagesAsync(first, receivers);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task A_direct_send_is_never_ahead_of_earlier_sends_from_the_same_server(int targetServer)
    {
        // A send to a connection the sender's server owns may skip the log, but must not overtake earlier rows.
        var sender = await ConnectAsync(0, "sender");
        var target = await ConnectAsync(targetServer, "target");
        var group = UniqueName("group");
        await sender.InvokeAsync(nameof(TestHub.AddToGroup), target.ConnectionId, group);

        var expected = new List<string>();
        for (var round = 0; round < 10; round++)
        {
            await sender.InvokeAsync(nameof(TestHub.SendGroup), group, $"group {round}");
            await sender.InvokeAsync(nameof(TestHub.SendConnection), target.ConnectionId, $"direct {round}");
            await sender.InvokeAsync(nameof(TestHub.SendAll), $"all {round}");
            expected.AddRange([$"group {round}", $"direct {round}", $"all {round}"]);
        }

        var received = await target.ReceiveAsync(expected.Count);
        if (ExpectsGlobalOrder)
        {
            Assert.Equal(expected, received);
        }
        else
        {
            // Redis: each message once, and each channel (group, connection, all) in its own order, nothing more.
            foreach (var kind in new[] { "group", "direct", "all" })
            {
                Assert.Equal(expected.Where(m => m.StartsWith(kind, StringComparison.Ordinal)), received.Where(m => m.StartsWith(kind, StringComparison.Ordinal)));
            }
        }
        await AssertNoMoreMessagesAsync(sender, target);
    }

    private static async Task SendSequenceAsync(TestClient sender, int senderIndex, string group)
    {
        for (var n = 0; n < MessagesPerSender; n++)
        {
            await sender.InvokeAsync(nameof(TestHub.SendGroup), group, $"s{senderIndex}:{n}");
        }
    }
}

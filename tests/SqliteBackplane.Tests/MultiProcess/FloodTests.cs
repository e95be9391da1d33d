using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.MultiProcess;

/// <summary>
/// A flood through hub methods on one process and a client on another process that reads slower than the flood: the
/// senders slow down for it (delivery holds in the shared file), so it receives every message exactly once and in
/// order; a client there that stops reading loses messages (its own bound) and holds the senders back only briefly.
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
public sealed class FloodTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    private const int Senders = 2;
    private const int MessagesPerSender = 1_500;

    // 16 KB a message, so the sockets' buffers hold only a few hundred and the server's per-connection bound is reached.
    private static readonly string Padding = new('p', 16 * 1024);

    // Drops beyond 1,000 messages waiting for one connection.
    private TestServerSettings Settings => new() { DatabasePath = Database.Path, MaxPendingMessagesPerConnection = 1_000 };

    [Fact]
    public async Task A_client_reading_slower_than_a_flood_on_another_process_receives_every_message_once_and_in_order()
    {
        var sending = await StartAsync(Settings, "sending");
        var receiving = await StartAsync(Settings, "receiving");
        var slow = DisposeAfterTest(await RawHubClient.ConnectAsync(receiving.Address));
        var senders = await ConnectSendersAsync(sending);

        var reading = Task.Run(async () =>
        {
            var received = new List<string>();
            while (await slow.ReceiveAsync() is var message && message != "end|")
            {
                received.Add(message[..message.IndexOf('|', StringComparison.Ordinal)]);
                if (received.Count % 2 == 0)
                {
                    // Slower than the senders, but always reading.
                    await Task.Delay(5);
                }
            }

            return received;
        });

        await FloodAsync(senders);
        // Sent after the whole flood, so it is the last message the slow client receives.
        await senders[0].InvokeAsync(nameof(TestHub.SendAll), "end|");
        var received = await reading.TimeoutAfter(TimeSpan.FromMinutes(1), "the slow client to read every message");
        Output.WriteLine($"The slow client received {received.Count} of {Senders * MessagesPerSender} messages.");
        for (var s = 0; s < Senders; s++)
        {
            var prefix = $"s{s}:";
            Assert.Equal(Enumerable.Range(0, MessagesPerSender).Select(i => $"{prefix}{i:D5}"), received.Where(m => m.StartsWith(prefix, StringComparison.Ordinal)));
        }

        Assert.Equal(Senders * MessagesPerSender, received.Count);
    }

    [Fact]
    public async Task A_client_that_stops_reading_on_another_process_is_dropped_and_holds_the_senders_back_only_briefly()
    {
        var sending = await StartAsync(Settings, "sending");
        var receiving = await StartAsync(Settings, "receiving");
        var stopped = DisposeAfterTest(await RawHubClient.ConnectAsync(receiving.Address));
        var reader = await ConnectAsync(receiving, "reader");
        var senders = await ConnectSendersAsync(sending);

        // Every send completes (each within the default timeout, see FloodAsync) although a client never reads.
        await FloodAsync(senders);
        var received = await reader.ReceiveAsync(Senders * MessagesPerSender);
        for (var s = 0; s < Senders; s++)
        {
            var prefix = $"s{s}:";
            Assert.Equal(Enumerable.Range(0, MessagesPerSender).Select(i => $"{prefix}{i:D5}"),
                received.Where(m => m.StartsWith(prefix, StringComparison.Ordinal)).Select(m => m[..m.IndexOf('|', StringComparison.Ordinal)]));
        }

        // Its messages were dropped by its own bound (the server says so once); it cannot catch up on them later, and
        // the server may also close it (a send that does not complete within TransportSendTimeout closes a connection).
        await Eventually.BecomesTrueAsync(() => receiving.Output.Contains($"Connection {stopped.ConnectionId} is not reading fast enough", StringComparison.Ordinal),
            TaskTimeoutExtensions.DefaultTimeoutValue, "the receiving server reports that it drops messages for the client that stopped reading");
    }

    private async Task<TestClient[]> ConnectSendersAsync(ServerProcess server)
    {
        var senders = new TestClient[Senders];
        for (var s = 0; s < Senders; s++)
        {
            senders[s] = await ConnectAsync(server, $"sender{s}");
        }

        return senders;
    }

    // Each sender invokes the hub method as fast as the server accepts, excluding the senders from the broadcast.
    private static Task FloodAsync(TestClient[] senders)
    {
        string[] excluded = [.. senders.Select(s => s.ConnectionId)];
        return Task.WhenAll(senders.Select((sender, s) => Task.Run(async () =>
        {
            for (var i = 0; i < MessagesPerSender; i++)
            {
                await sender.InvokeAsync(nameof(TestHub.SendAllExcept), $"s{s}:{i:D5}|{Padding}", excluded);
            }
        })));
    }
}

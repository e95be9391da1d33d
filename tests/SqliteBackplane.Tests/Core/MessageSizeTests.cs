using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Core;

/// <summary>Message size: a message over MaxMessageBytes is refused naming the option; a megabyte payload arrives intact.</summary>
public class MessageSizeTests
{
    [Fact]
    public async Task Message_larger_than_the_limit_is_refused_with_the_option_name()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database, o => o.MaxMessageBytes = 4096);

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => manager.SendAllAsync(ClientMethods.Receive, [new string('x', 10_000)]));

        Assert.Contains("MaxMessageBytes (4096)", ex.Message);
    }

    [Fact]
    public async Task Megabyte_payload_is_delivered_intact()
    {
        using var database = new TempDatabase();
        using var sender = DirectManagers.Create(database);
        using var receiver = DirectManagers.Create(database);
        await using var client = new FakeClient();
        await receiver.OnConnectedAsync(client.Connection).DefaultTimeout();
        var payload = string.Create(1_100_000, 0, static (span, _) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = (char)('a' + i % 26);
            }
        });

        await sender.SendAllAsync(ClientMethods.Receive, [payload]).DefaultTimeout();

        await client.AssertReceivesAsync(payload);
    }
}

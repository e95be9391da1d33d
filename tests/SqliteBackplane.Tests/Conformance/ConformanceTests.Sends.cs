using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Conformance;

public abstract partial class ConformanceTests
{
    [Fact]
    public async Task SendAll_reaches_every_connection_on_every_server_once()
    {
        var sender = await ConnectAsync(0, "sender");
        var local = await ConnectAsync(0, "local");
        var remote = await ConnectAsync(1, "remote");
        var remoteNewtonsoft = await ConnectAsync(1, "remote-newtonsoft", HubProtocolKind.NewtonsoftJson);

        await sender.InvokeAsync(nameof(TestHub.SendAll), "hello all");

        foreach (var client in new[] { sender, local, remote, remoteNewtonsoft })
        {
            await client.AssertReceivesAsync("hello all");
        }
        await AssertNoMoreMessagesAsync(sender, sender, local, remote, remoteNewtonsoft);
    }

    [Theory]
    [InlineData(HubProtocolKind.Json)]
    [InlineData(HubProtocolKind.NewtonsoftJson)]
    [InlineData(HubProtocolKind.PrefixedJson)]
    [InlineData(HubProtocolKind.MessagePack)]
    public async Task SendAll_delivers_exact_payload_to_every_protocol_on_every_server(HubProtocolKind senderProtocol)
    {
        var sender = await ConnectAsync(0, "sender", senderProtocol);
        var receivers = new List<TestClient>();
        foreach (var protocol in Enum.GetValues<HubProtocolKind>())
        {
            receivers.Add(await ConnectAsync(0, $"local-{protocol}", protocol));
            receivers.Add(await ConnectAsync(1, $"remote-{protocol}", protocol));
        }
        var payload = new TestPayload(42, "héllo \"quoted\" \u2603", ["a", "", "c"]);

        await sender.InvokeAsync(nameof(TestHub.SendAllPayload), payload);

        foreach (var client in receivers.Append(sender))
        {
            var received = await client.ReceivePayloadAsync();
            Assert.Equal(payload.Number, received.Number);
            Assert.Equal(payload.Text, received.Text);
            Assert.Equal(payload.Items, received.Items);
        }
        await AssertNoMoreMessagesAsync(sender, [.. receivers, sender]);
    }

    [Theory]
    [InlineData(0, HubProtocolKind.Json)]
    [InlineData(1, HubProtocolKind.MessagePack)]
    public async Task Json_and_MessagePack_clients_on_every_server_receive_values_exactly(int senderServer, HubProtocolKind senderProtocol)
    {
        var sender = await ConnectAsync(senderServer, "sender", senderProtocol);
        var receivers = new List<TestClient>();
        foreach (var protocol in new[] { HubProtocolKind.Json, HubProtocolKind.MessagePack })
        {
            receivers.Add(await ConnectAsync(0, $"first-{protocol}", protocol));
            receivers.Add(await ConnectAsync(1, $"second-{protocol}", protocol));
        }
        var sent = new ExactPayload(
            Long: (1L << 53) + 1,
            Doubles: [0.1 + 0.2, Math.PI, -1.5e-300, double.MaxValue, 1e21],
            Bytes: [0, 1, 127, 128, 255, (byte)'"', (byte)'\\'],
            Time: new DateTime(2026, 12, 1, 23, 59, 58, DateTimeKind.Utc).AddTicks(1234567),
            Text: "naïve café, 中文, emoji \U0001F600, \"quotes\" and \\ backslash");

        await sender.InvokeAsync(nameof(TestHub.SendAllExact), sent);

        foreach (var client in receivers.Append(sender))
        {
            var received = await client.ReceiveExactAsync();
            Assert.True(sent.Long == received.Long, $"{client.Description} received long {received.Long}.");
            Assert.Equal(sent.Doubles, received.Doubles);
            Assert.Equal(sent.Bytes, received.Bytes);
            Assert.Equal(sent.Time, received.Time);
            Assert.Equal(DateTimeKind.Utc, received.Time.Kind);
            Assert.Equal(sent.Text, received.Text);
        }
        await AssertNoMoreMessagesAsync(sender, [.. receivers, sender]);
    }

    [Fact]
    public async Task SendAllExcept_skips_excluded_connections_on_every_server()
    {
        var sender = await ConnectAsync(0, "sender");
        var excludedLocal = await ConnectAsync(0, "excluded-local");
        var excludedRemote = await ConnectAsync(1, "excluded-remote");
        var includedRemote = await ConnectAsync(1, "included-remote");

        await sender.InvokeAsync(nameof(TestHub.SendAllExcept), "not for you", new[] { excludedLocal.ConnectionId, excludedRemote.ConnectionId });

        await sender.AssertReceivesAsync("not for you");
        await includedRemote.AssertReceivesAsync("not for you");
        await AssertNoMoreMessagesAsync(sender, sender, excludedLocal, excludedRemote, includedRemote);
    }

    [Fact]
    public async Task SendConnection_reaches_only_that_connection_on_the_same_or_another_server()
    {
        var sender = await ConnectAsync(0, "sender");
        var local = await ConnectAsync(0, "local");
        var remote = await ConnectAsync(1, "remote");
        var bystander = await ConnectAsync(1, "bystander");

        await sender.InvokeAsync(nameof(TestHub.SendConnection), remote.ConnectionId, "to remote");
        await sender.InvokeAsync(nameof(TestHub.SendConnection), local.ConnectionId, "to local");

        await remote.AssertReceivesAsync("to remote");
        await local.AssertReceivesAsync("to local");
        await AssertNoMoreMessagesAsync(sender, sender, local, remote, bystander);
    }

    [Fact]
    public async Task SendConnection_to_a_connection_that_exists_nowhere_succeeds_and_delivers_nothing()
    {
        var sender = await ConnectAsync(0, "sender");
        var other = await ConnectAsync(1, "other");

        await sender.InvokeAsync(nameof(TestHub.SendConnection), "no-such-connection", "lost");

        await AssertNoMoreMessagesAsync(sender, sender, other);
    }

    [Fact]
    public async Task SendConnections_reaches_each_listed_connection_across_servers()
    {
        var sender = await ConnectAsync(0, "sender");
        var local = await ConnectAsync(0, "local");
        var remote = await ConnectAsync(1, "remote");
        var unlisted = await ConnectAsync(1, "unlisted");

        // A connection listed twice is left out on purpose: the in-box manager delivers once, the Redis backplane twice.
        await sender.InvokeAsync(nameof(TestHub.SendConnections), new[] { local.ConnectionId, remote.ConnectionId, "no-such-connection" }, "listed");

        await local.AssertReceivesAsync("listed");
        await remote.AssertReceivesAsync("listed");
        await AssertNoMoreMessagesAsync(sender, sender, local, remote, unlisted);
    }

    [Fact]
    public async Task SendUser_reaches_every_connection_of_the_user_on_every_server()
    {
        var user = UniqueName("user");
        var sender = await ConnectAsync(0, "sender");
        var userOnFirst = await ConnectAsync(0, user);
        var userOnSecond = await ConnectAsync(1, user);
        var otherUser = await ConnectAsync(1, UniqueName("other"));

        await sender.InvokeAsync(nameof(TestHub.SendUser), user, "to user");

        await userOnFirst.AssertReceivesAsync("to user");
        await userOnSecond.AssertReceivesAsync("to user");
        await AssertNoMoreMessagesAsync(sender, sender, userOnFirst, userOnSecond, otherUser);
    }

    [Fact]
    public async Task SendUsers_reaches_each_connection_of_the_listed_users_once_unless_the_backplane_sends_per_listing()
    {
        var first = UniqueName("first");
        var second = UniqueName("second");
        var sender = await ConnectAsync(1, "sender");
        var firstOnFirst = await ConnectAsync(0, first);
        var firstOnSecond = await ConnectAsync(1, first);
        var secondOnFirst = await ConnectAsync(0, second);
        var unlisted = await ConnectAsync(0, UniqueName("unlisted"));

        await sender.InvokeAsync(nameof(TestHub.SendUsers), new[] { first, second, first, "nobody" }, "to users");

        await firstOnFirst.AssertReceivesAsync("to users");
        await firstOnSecond.AssertReceivesAsync("to users");
        await secondOnFirst.AssertReceivesAsync("to users");
        if (!DeliversOnceToAUserListedTwice)
        {
            // Redis publishes once per listed user id, so the user listed twice gets it twice on every connection.
            await firstOnFirst.AssertReceivesAsync("to users");
            await firstOnSecond.AssertReceivesAsync("to users");
        }
        await AssertNoMoreMessagesAsync(sender, sender, firstOnFirst, firstOnSecond, secondOnFirst, unlisted);
    }

    [Fact]
    public async Task A_client_that_disconnected_no_longer_counts_for_its_user()
    {
        var user = UniqueName("user");
        var sender = await ConnectAsync(0, "sender");
        var staying = await ConnectAsync(0, user);
        var leaving = await Server(1).ConnectAsync(user);
        await leaving.DisposeAsync();

        await sender.InvokeAsync(nameof(TestHub.SendUser), user, "after leave");

        await staying.AssertReceivesAsync("after leave");
        await AssertNoMoreMessagesAsync(sender, sender, staying);
    }
}

using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Conformance;

public abstract partial class ConformanceTests
{
    [Fact]
    public async Task Hubs_sharing_the_file_stay_apart()
    {
        var user = UniqueName("user");
        var group = UniqueName("group");
        var testSender = await ConnectAsync(0, "test-sender");
        var testReceiver = await ConnectAsync(1, user);
        var otherSender = await ConnectAsync(0, "other-sender", hubPath: HubPaths.Other);
        var otherReceiver = await ConnectAsync(1, user, hubPath: HubPaths.Other);
        await otherSender.InvokeAsync(nameof(OtherHub.AddToGroup), otherReceiver.ConnectionId, group);

        await testSender.InvokeAsync(nameof(TestHub.SendAll), "test all");
        await testSender.InvokeAsync(nameof(TestHub.SendUser), user, "test user");
        await testSender.InvokeAsync(nameof(TestHub.SendGroup), group, "test group");
        await otherSender.InvokeAsync(nameof(OtherHub.SendAll), "other all");

        await testSender.AssertReceivesAsync("test all");
        await AssertReceivesEachAsync(testReceiver, "test all", "test user");
        await otherSender.AssertReceivesAsync("other all");
        await otherReceiver.AssertReceivesAsync("other all");
        await AssertNoMoreMessagesAsync(testSender, testSender, testReceiver);
        await otherSender.InvokeAsync(nameof(OtherHub.SendGroup), group, "other marker");
        await otherReceiver.AssertReceivesAsync("other marker");
    }

    [Fact]
    public async Task Two_table_prefixes_on_one_file_are_two_separate_applications()
    {
        var user = UniqueName("user");
        var otherApp = await StartServerAsync(DefaultSettings() with { TablePrefix = "otherapp_" }, "other-app server");
        var sender = await ConnectAsync(0, "sender");
        var receiver = await ConnectAsync(1, user);
        var otherAppSender = await ConnectAsync(otherApp, "other-app-sender");
        var otherAppReceiver = await ConnectAsync(otherApp, user);

        await sender.InvokeAsync(nameof(TestHub.SendAll), "app all");
        await sender.InvokeAsync(nameof(TestHub.SendUser), user, "app user");
        await sender.InvokeAsync(nameof(TestHub.SendConnection), otherAppReceiver.ConnectionId, "app connection");
        await otherAppSender.InvokeAsync(nameof(TestHub.SendAll), "other app all");

        await sender.AssertReceivesAsync("app all");
        await AssertReceivesEachAsync(receiver, "app all", "app user");
        await otherAppSender.AssertReceivesAsync("other app all");
        await otherAppReceiver.AssertReceivesAsync("other app all");
        await AssertNoMoreMessagesAsync(sender, sender, receiver);
        await AssertNoMoreMessagesAsync(otherAppSender, otherAppSender, otherAppReceiver);
    }

    /// <summary>
    /// Receives <paramref name="expected"/>, in that order where the backplane keeps one order; a backplane that orders
    /// per channel (Redis: all, user, group and connection sends are different channels) may interleave them.
    /// </summary>
    private async Task AssertReceivesEachAsync(TestClient client, params string[] expected)
    {
        IEnumerable<string> received = await client.ReceiveAsync(expected.Length);
        IEnumerable<string> wanted = expected;
        if (!ExpectsGlobalOrder)
        {
            (wanted, received) = (wanted.Order(StringComparer.Ordinal), received.Order(StringComparer.Ordinal));
        }

        Assert.Equal(wanted, received);
    }
}

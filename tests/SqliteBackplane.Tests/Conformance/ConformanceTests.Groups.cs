using System.Diagnostics;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Conformance;

public abstract partial class ConformanceTests
{
    [Fact]
    public async Task SendGroup_reaches_members_on_every_server_once()
    {
        var group = UniqueName("group");
        var sender = await ConnectAsync(0, "sender");
        var localMember = await ConnectAsync(0, "local-member");
        var remoteMember = await ConnectAsync(1, "remote-member");
        var outsider = await ConnectAsync(1, "outsider");
        await localMember.InvokeAsync(nameof(TestHub.AddToGroup), localMember.ConnectionId, group);
        await remoteMember.InvokeAsync(nameof(TestHub.AddToGroup), remoteMember.ConnectionId, group);
        // Adding twice changes nothing.
        await remoteMember.InvokeAsync(nameof(TestHub.AddToGroup), remoteMember.ConnectionId, group);

        await sender.InvokeAsync(nameof(TestHub.SendGroup), group, "to group");

        await localMember.AssertReceivesAsync("to group");
        await remoteMember.AssertReceivesAsync("to group");
        await AssertNoMoreMessagesAsync(sender, sender, localMember, remoteMember, outsider);
    }

    [Fact]
    public async Task SendGroups_reaches_the_members_of_every_listed_group()
    {
        // Members of two listed groups are left out on purpose: SignalR's in-box manager and the Redis backplane
        // deliver such a send once per group, and this suite does not pin that down.
        var first = UniqueName("first");
        var second = UniqueName("second");
        var sender = await ConnectAsync(0, "sender");
        var inFirst = await ConnectAsync(1, "in-first");
        var inSecond = await ConnectAsync(0, "in-second");
        var alsoInSecond = await ConnectAsync(1, "also-in-second");
        var inUnlisted = await ConnectAsync(1, "in-unlisted");
        await sender.InvokeAsync(nameof(TestHub.AddToGroup), inFirst.ConnectionId, first);
        await sender.InvokeAsync(nameof(TestHub.AddToGroup), inSecond.ConnectionId, second);
        await sender.InvokeAsync(nameof(TestHub.AddToGroup), alsoInSecond.ConnectionId, second);
        await sender.InvokeAsync(nameof(TestHub.AddToGroup), inUnlisted.ConnectionId, UniqueName("unlisted"));

        await sender.InvokeAsync(nameof(TestHub.SendGroups), new[] { first, second, "empty-group" }, "to groups");

        await inFirst.AssertReceivesAsync("to groups");
        await inSecond.AssertReceivesAsync("to groups");
        await alsoInSecond.AssertReceivesAsync("to groups");
        await AssertNoMoreMessagesAsync(sender, sender, inFirst, inSecond, alsoInSecond, inUnlisted);
    }

    [Fact]
    public async Task SendGroupExcept_skips_excluded_members_on_every_server()
    {
        var group = UniqueName("group");
        var sender = await ConnectAsync(0, "sender");
        var excludedLocal = await ConnectAsync(0, "excluded-local");
        var excludedRemote = await ConnectAsync(1, "excluded-remote");
        var includedRemote = await ConnectAsync(1, "included-remote");
        var includedLocal = await ConnectAsync(0, "included-local");
        foreach (var member in new[] { excludedLocal, excludedRemote, includedRemote, includedLocal })
        {
            await sender.InvokeAsync(nameof(TestHub.AddToGroup), member.ConnectionId, group);
        }

        await sender.InvokeAsync(nameof(TestHub.SendGroupExcept), group, "group except", new[] { excludedLocal.ConnectionId, excludedRemote.ConnectionId });

        await includedRemote.AssertReceivesAsync("group except");
        await includedLocal.AssertReceivesAsync("group except");
        await AssertNoMoreMessagesAsync(sender, sender, excludedLocal, excludedRemote, includedRemote, includedLocal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task A_send_right_after_AddToGroup_returns_reaches_the_new_member(int memberServer)
    {
        // No ack wait and no retry: the send must see the add because it started after the add returned.
        var sender = await ConnectAsync(0, "sender");
        var member = await ConnectAsync(memberServer, "member");
        for (var round = 0; round < 20; round++)
        {
            var group = UniqueName($"group{round}");
            await sender.InvokeAsync(nameof(TestHub.AddToGroup), member.ConnectionId, group);
            await sender.InvokeAsync(nameof(TestHub.SendGroup), group, $"round {round}");
            await member.AssertReceivesAsync($"round {round}");
        }
        await AssertNoMoreMessagesAsync(sender, sender, member);
    }

    [Fact]
    public async Task A_send_from_another_server_right_after_AddToGroup_returns_reaches_the_new_member()
    {
        var adder = await ConnectAsync(0, "adder");
        var sender = await ConnectAsync(1, "sender");
        var member = await ConnectAsync(1, "member");
        for (var round = 0; round < 20; round++)
        {
            var group = UniqueName($"group{round}");
            await adder.InvokeAsync(nameof(TestHub.AddToGroup), member.ConnectionId, group);
            await sender.InvokeAsync(nameof(TestHub.SendGroup), group, $"round {round}");
            await member.AssertReceivesAsync($"round {round}");
        }
        await AssertNoMoreMessagesAsync(sender, adder, sender, member);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task A_send_right_after_RemoveFromGroup_returns_skips_the_removed_member(int memberServer)
    {
        var group = UniqueName("group");
        var sender = await ConnectAsync(0, "sender");
        var member = await ConnectAsync(memberServer, "member");
        var stays = await ConnectAsync(1 - memberServer, "stays");
        await sender.InvokeAsync(nameof(TestHub.AddToGroup), member.ConnectionId, group);
        await sender.InvokeAsync(nameof(TestHub.AddToGroup), stays.ConnectionId, group);

        await sender.InvokeAsync(nameof(TestHub.RemoveFromGroup), member.ConnectionId, group);
        await sender.InvokeAsync(nameof(TestHub.SendGroup), group, "after remove");

        await stays.AssertReceivesAsync("after remove");
        await AssertNoMoreMessagesAsync(sender, sender, member, stays);
    }

    [Fact]
    public async Task A_connection_can_rejoin_a_group_it_left()
    {
        var group = UniqueName("group");
        var sender = await ConnectAsync(0, "sender");
        var member = await ConnectAsync(1, "member");

        await sender.InvokeAsync(nameof(TestHub.AddToGroup), member.ConnectionId, group);
        await sender.InvokeAsync(nameof(TestHub.RemoveFromGroup), member.ConnectionId, group);
        await sender.InvokeAsync(nameof(TestHub.SendGroup), group, "while out");
        await sender.InvokeAsync(nameof(TestHub.AddToGroup), member.ConnectionId, group);
        await sender.InvokeAsync(nameof(TestHub.SendGroup), group, "back in");

        await member.AssertReceivesAsync("back in");
        await AssertNoMoreMessagesAsync(sender, sender, member);
    }

    [Fact]
    public async Task Group_changes_for_a_connection_that_exists_nowhere_return_promptly_unless_the_backplane_waits_for_an_ack()
    {
        var caller = await ConnectAsync(0, "caller");
        var other = await ConnectAsync(1, "other");
        var stopwatch = Stopwatch.StartNew();

        var add = caller.InvokeAsync(nameof(TestHub.AddToGroup), "no-such-connection", "group");
        if (GroupChangesWaitForAcknowledgement)
        {
            // Redis publishes the change and waits for the owner's ack (30 s timeout); no owner answers.
            await Assert.ThrowsAsync<TimeoutException>(() => add.TimeoutAfter(TimeSpan.FromSeconds(3)));
            Output.WriteLine($"The add was still waiting for an ack after {stopwatch.ElapsedMilliseconds} ms.");
            await AssertNoMoreMessagesAsync(other, caller, other);
            return;
        }
        await add.TimeoutAfter(TimeSpan.FromSeconds(5));
        await caller.InvokeAsync(nameof(TestHub.RemoveFromGroup), "no-such-connection", "group").TimeoutAfter(TimeSpan.FromSeconds(5));

        Output.WriteLine($"Both group changes returned after {stopwatch.ElapsedMilliseconds} ms.");
        await AssertNoMoreMessagesAsync(caller, caller, other);
    }

    [Fact]
    public async Task A_disconnected_member_leaves_its_groups()
    {
        var group = UniqueName("group");
        var sender = await ConnectAsync(0, "sender");
        var stays = await ConnectAsync(0, "stays");
        var leaving = await Server(1).ConnectAsync("leaving");
        await sender.InvokeAsync(nameof(TestHub.AddToGroup), stays.ConnectionId, group);
        await sender.InvokeAsync(nameof(TestHub.AddToGroup), leaving.ConnectionId, group);
        await leaving.DisposeAsync();

        await sender.InvokeAsync(nameof(TestHub.SendGroup), group, "after leave");

        await stays.AssertReceivesAsync("after leave");
        await AssertNoMoreMessagesAsync(sender, sender, stays);
    }
}

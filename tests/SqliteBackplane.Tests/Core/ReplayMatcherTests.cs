using SqliteBackplane.Internal.Delivery;
using SqliteBackplane.Internal.Messaging;
using Xunit;

namespace SqliteBackplane.Tests.Core;

/// <summary>Which log rows a resumed connection would have received: the replay's matcher (docs/resume.md).</summary>
public sealed class ReplayMatcherTests
{
    private const string Me = "old-connection";

    [Fact]
    public void Group_membership_is_walked_back_to_the_start_of_the_range_and_forward_again()
    {
        // The range: a send to "a" (not yet joined), join "a", send to "a", leave "b", send to "b", send to "c".
        var rows = new[]
        {
            Send(MessageKind.Groups, "a"),
            Change(MessageKind.GroupAdd, "a"),
            Send(MessageKind.Groups, "a"),
            Change(MessageKind.GroupRemove, "b"),
            Send(MessageKind.Groups, "b"),
            Send(MessageKind.Groups, "c"),
            Change(MessageKind.GroupAdd, "a", connectionId: "someone-else"),
        };
        // At the end (departure) the connection is in "a" and "c".
        var matcher = new ReplayMatcher(Me, "alice", ["a", "c"]);
        foreach (var change in rows.Reverse().Where(r => r.Kind is MessageKind.GroupAdd or MessageKind.GroupRemove))
        {
            matcher.Rewind(change);
        }

        Assert.Equal(["b", "c"], matcher.Groups.Order(StringComparer.Ordinal));
        Assert.Equal([false, false, true, false, false, true, false], rows.Select(matcher.Matches));
        Assert.Equal(["a", "c"], matcher.Groups.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Exclusions_users_and_connection_ids_decide_as_live_delivery_does()
    {
        var matcher = new ReplayMatcher(Me, "alice", ["room"]);
        Assert.True(matcher.Matches(Send(MessageKind.All)));
        Assert.False(matcher.Matches(SendExcept(MessageKind.All, Me)));
        Assert.True(matcher.Matches(SendExcept(MessageKind.All, "another")));
        Assert.False(matcher.Matches(SendExcept(MessageKind.Groups, Me, "room")));
        Assert.True(matcher.Matches(Send(MessageKind.Groups, "other", "room")));
        Assert.True(matcher.Matches(Send(MessageKind.Users, "bob", "alice")));
        Assert.False(matcher.Matches(Send(MessageKind.Users, "bob")));
        Assert.True(matcher.Matches(Send(MessageKind.Connections, "x", Me)));
        Assert.False(matcher.Matches(Send(MessageKind.Connections, "x")));
        Assert.False(matcher.Matches(new Envelope { Kind = MessageKind.ClientInvocation, Targets = [Me, "node"] }));

        var anonymous = new ReplayMatcher(Me, userId: null, []);
        Assert.False(anonymous.Matches(Send(MessageKind.Users, "alice")));
    }

    private static Envelope Send(MessageKind kind, params string[] targets) => new() { Kind = kind, Targets = targets };

    private static Envelope SendExcept(MessageKind kind, string excluded, params string[] targets) => new() { Kind = kind, Targets = targets, Excluded = [excluded] };

    private static Envelope Change(MessageKind kind, string group, string connectionId = Me) => new() { Kind = kind, Targets = [connectionId, group] };
}

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
        foreach (var change in rows.Reverse().OfType<GroupChangeRow>())
        {
            matcher.Rewind(change);
        }

        Assert.Equal(["b", "c"], matcher.Groups.Order(StringComparer.Ordinal));
        Assert.Equal([0, 0, 1, 0, 0, 1, 0], rows.Select(matcher.Copies));
        Assert.Equal(["a", "c"], matcher.Groups.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Exclusions_users_connection_ids_and_copies_decide_as_live_delivery_does()
    {
        var matcher = new ReplayMatcher(Me, "alice", ["room"]);
        Assert.Equal(1, matcher.Copies(Send(MessageKind.All)));
        Assert.Equal(0, matcher.Copies(SendExcept(MessageKind.All, Me)));
        Assert.Equal(1, matcher.Copies(SendExcept(MessageKind.All, "another")));
        Assert.Equal(0, matcher.Copies(SendExcept(MessageKind.Groups, Me, "room")));
        Assert.Equal(1, matcher.Copies(Send(MessageKind.Groups, "other", "room")));
        Assert.Equal(1, matcher.Copies(Send(MessageKind.Users, "bob", "alice")));
        Assert.Equal(0, matcher.Copies(Send(MessageKind.Users, "bob")));
        Assert.Equal(1, matcher.Copies(Send(MessageKind.Connections, "x", Me)));
        Assert.Equal(0, matcher.Copies(Send(MessageKind.Connections, "x")));
        Assert.Equal(0, matcher.Copies(new ClientInvocationRow { ConnectionId = Me, OwnerNodeId = "node", InvocationId = "i", OriginNodeId = "origin" }));

        // A member of two listed groups, or of a group listed twice, receives two copies, as SendGroupsAsync does in-box.
        var twoGroups = new ReplayMatcher(Me, "alice", ["room", "hall"]);
        Assert.Equal(2, twoGroups.Copies(Send(MessageKind.Groups, "room", "hall", "other")));
        Assert.Equal(2, matcher.Copies(Send(MessageKind.Groups, "room", "room")));
        Assert.Equal(1, matcher.Copies(Send(MessageKind.Users, "alice", "alice")));
        Assert.Equal(1, matcher.Copies(Send(MessageKind.Connections, Me, Me)));

        var anonymous = new ReplayMatcher(Me, userId: null, []);
        Assert.Equal(0, anonymous.Copies(Send(MessageKind.Users, "alice")));
    }

    [Fact]
    public void A_chain_of_resumes_matches_each_link_as_itself_from_its_attach_row_on()
    {
        // The client's token names "a"; "b" resumed "a" (taking its groups) and dropped before the client got b's token.
        var rows = new (long Id, Envelope Row)[]
        {
            (1, Send(MessageKind.Connections, "a")),
            (2, Change(MessageKind.GroupAdd, "g", connectionId: "a")),
            (3, Send(MessageKind.Groups, "g")),
            (4, new AttachRow { ConnectionId = "b", Resumed = ["a"], Groups = ["g"], ReplayAfter = 0 }),
            (5, Send(MessageKind.Connections, "a")),
            (6, Send(MessageKind.Connections, "b")),
            (7, SendExcept(MessageKind.All, "b")),
            (8, SendExcept(MessageKind.All, "a")),
            (9, Change(MessageKind.GroupRemove, "g", connectionId: "b")),
            (10, Send(MessageKind.Groups, "g")),
            (11, Change(MessageKind.GroupAdd, "h", connectionId: "b")),
            (12, Send(MessageKind.Groups, "g", "h")),
            // A refused claim by another connection links nothing.
            (13, new AttachRow { ConnectionId = "x", Resumed = ["b"], GapReason = "resumed" }),
            (14, Send(MessageKind.Connections, "x")),
        };
        var changes = rows.Select(r => r.Row).Where(r => r is GroupChangeRow or AttachRow).Reverse();

        // At the end "b" is in "h"; the walk back finds "a" with no groups at the start.
        var replay = ReplayMatcher.Plan(["a", "b"], "alice", ["h"], changes, rows, max: 100)!;

        Assert.Equal([1L, 3, 6, 8, 12], replay.Select(r => r.Id));
        var afterTheLink = rows.Where(r => r.Id > 4).ToList();
        var laterChanges = afterTheLink.Select(r => r.Row).Where(r => r is GroupChangeRow or AttachRow).Reverse();
        var fromTheMiddle = ReplayMatcher.Plan(["a", "b"], "alice", ["h"], laterChanges, afterTheLink, max: 100)!;
        Assert.Equal([6L, 8, 12], fromTheMiddle.Select(r => r.Id));
    }

    private static Envelope Send(MessageKind kind, params string[] targets) => new SendRow(kind) { Targets = targets };

    private static Envelope SendExcept(MessageKind kind, string excluded, params string[] targets) => new SendRow(kind) { Targets = targets, Excluded = [excluded] };

    private static Envelope Change(MessageKind kind, string group, string connectionId = Me) =>
        new GroupChangeRow { Added = kind == MessageKind.GroupAdd, ConnectionId = connectionId, Group = group };
}

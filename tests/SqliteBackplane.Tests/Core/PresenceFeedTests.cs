using System.Threading.Channels;
using SqliteBackplane.Internal.Delivery;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Tests.Infrastructure;
using Xunit;

namespace SqliteBackplane.Tests.Core;

/// <summary>A subscriber that falls behind: its queue is bounded, and it is told when changes were dropped.</summary>
public class PresenceFeedTests
{
    private const string Hub = "Chat.Hub";
    private const string NodeId = "0123456789abcdef0123456789abcdef";

    [Fact]
    public async Task A_handler_that_falls_behind_gets_the_queued_changes_then_ChangesDropped_then_newer_changes_and_the_drop_is_logged_once()
    {
        var log = new OutputLog("feed", testOutput: null);
        using var loggers = new TestOutputLoggerProvider(log);
        var feed = new PresenceFeed(loggers.CreateLogger("SqliteBackplane"), NodeId, maxQueuedChanges: 3);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var received = Channel.CreateUnbounded<SqliteBackplanePresenceChange>();
        using var subscription = feed.Subscribe(Hub, async change =>
        {
            received.Writer.TryWrite(change);
            await release.Task;
        });

        // The handler holds the first change; three more fill the queue; the next five are dropped.
        for (var i = 0; i < 9; i++)
        {
            feed.Publish(Hub, Joined($"c{i}"));
            if (i == 0)
            {
                Assert.Equal("c0", (await received.Reader.ReadAsync().AsTask().DefaultTimeout()).ConnectionId);
            }
        }

        release.SetResult();
        var caughtUp = new List<SqliteBackplanePresenceChange>();
        for (var i = 0; i < 4; i++)
        {
            caughtUp.Add(await received.Reader.ReadAsync().AsTask().DefaultTimeout());
        }

        Assert.Equal(["c1", "c2", "c3", null], caughtUp.Select(c => c.ConnectionId));
        Assert.Equal(SqliteBackplanePresenceChangeKind.ChangesDropped, caughtUp[3].Kind);
        Assert.Equal(NodeId, caughtUp[3].NodeId);
        Assert.Equal(Hub, caughtUp[3].Hub);

        // Changes after the notice arrive as usual, with no second notice.
        feed.Publish(Hub, Joined("c9"));
        var next = await received.Reader.ReadAsync().AsTask().DefaultTimeout();
        Assert.Equal(("c9", SqliteBackplanePresenceChangeKind.ConnectionJoined), (next.ConnectionId, next.Kind));
        Assert.False(received.Reader.TryRead(out _));
        Assert.Single(log.ToString().Split('\n'), line => line.Contains("3 changes behind", StringComparison.Ordinal));
    }

    private static Envelope Joined(string connectionId) =>
        new PresenceRow { Joined = true, NodeId = NodeId, Connections = [new PresenceConnection(connectionId, null, false)] };
}

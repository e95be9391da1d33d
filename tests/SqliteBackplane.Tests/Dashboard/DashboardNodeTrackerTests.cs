using SqliteBackplane.Dashboard;
using SqliteBackplane.Internal.Storage;
using Xunit;

namespace SqliteBackplane.Tests.Dashboard;

/// <summary>How the page's node list turns node rows into live, late and gone, with the reason a node went.</summary>
public sealed class DashboardNodeTrackerTests
{
    private const long Start = 1_000_000;
    private static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan NodeTimeout = TimeSpan.FromSeconds(10);

    private static DashboardReader.NodeRow Row(string id, long heartbeatAt) => new(id, "box", 42, Start, heartbeatAt, 1);

    private static Dictionary<string, (long, NodeFigures)> NoFigures => [];

    [Fact]
    public void A_node_reaped_while_its_heartbeat_was_recent_is_gone_because_its_crash_was_detected_and_disappears_after_the_linger()
    {
        var tracker = new DashboardNodeTracker("self", Heartbeat, NodeTimeout);
        tracker.Update(Start, [Row("self", Start), Row("other", Start)], NoFigures);

        tracker.Departed("other", reaped: true, Start + 1_000);
        var nodes = tracker.Update(Start + 1_000, [Row("self", Start + 1_000)], NoFigures);

        var gone = Assert.Single(nodes, n => n.Id == "other");
        Assert.Equal(("gone", "crash detected"), (gone.State, gone.Reason));
        Assert.Equal("live", Assert.Single(nodes, n => n.Id == "self").State);

        var later = tracker.Update(Start + 1_000 + (long)DashboardNodeTracker.GoneLinger.TotalMilliseconds + 1, [Row("self", Start + 11_000)], NoFigures);
        Assert.Equal(["self"], later.Select(n => n.Id));
    }

    [Fact]
    public void The_reason_says_graceful_timeout_or_removed_and_a_silent_node_is_late_first()
    {
        var tracker = new DashboardNodeTracker("self", Heartbeat, NodeTimeout);
        tracker.Update(Start, [Row("self", Start), Row("stopping", Start), Row("hung", Start), Row("cleaned", Start)], NoFigures);

        var late = tracker.Update(Start + 5_000, [Row("self", Start + 5_000), Row("stopping", Start + 5_000), Row("hung", Start), Row("cleaned", Start + 5_000)], NoFigures);
        Assert.Equal("late", Assert.Single(late, n => n.Id == "hung").State);

        tracker.Departed("stopping", reaped: false, Start + 12_000);
        tracker.Departed("hung", reaped: true, Start + 12_000);
        var nodes = tracker.Update(Start + 12_000, [Row("self", Start + 12_000)], NoFigures);

        Assert.Equal("graceful", Assert.Single(nodes, n => n.Id == "stopping").Reason);
        Assert.Equal("timeout", Assert.Single(nodes, n => n.Id == "hung").Reason);
        // Gone without a presence change: the reason waits a moment for one, then says removed.
        Assert.Equal(("gone", null), Assert.Single(nodes, n => n.Id == "cleaned") is var c ? (c.State, c.Reason) : default);
        var after = tracker.Update(Start + 12_000 + (long)DashboardNodeTracker.ReasonWait.TotalMilliseconds, [Row("self", Start + 15_000)], NoFigures);
        Assert.Equal("removed", Assert.Single(after, n => n.Id == "cleaned").Reason);
    }

    [Fact]
    public void A_reason_that_arrives_after_the_node_vanished_is_shown()
    {
        var tracker = new DashboardNodeTracker("self", Heartbeat, NodeTimeout);
        tracker.Update(Start, [Row("self", Start), Row("other", Start)], NoFigures);

        var first = tracker.Update(Start + 1_000, [Row("self", Start + 1_000)], NoFigures);
        Assert.Equal(("gone", null), Assert.Single(first, n => n.Id == "other") is var o ? (o.State, o.Reason) : default);

        tracker.Departed("other", reaped: true, Start + 1_200);
        var second = tracker.Update(Start + 2_000, [Row("self", Start + 2_000)], NoFigures);
        Assert.Equal("crash detected", Assert.Single(second, n => n.Id == "other").Reason);
    }

    [Fact]
    public void Messages_per_second_come_from_two_readings_of_a_nodes_counters()
    {
        var tracker = new DashboardNodeTracker("self", Heartbeat, NodeTimeout);
        tracker.Update(Start, [Row("self", Start)], new() { ["self"] = (Start, new NodeFigures { Since = 1, Delivered = 100, Published = 10 }) });

        var nodes = tracker.Update(Start + 2_000, [Row("self", Start + 2_000)], new() { ["self"] = (Start + 2_000, new NodeFigures { Since = 1, Delivered = 300, Published = 50, LagRows = 3 }) });

        var node = Assert.Single(nodes);
        Assert.Equal((100.0, 20.0, 3L), (node.InPerSecond, node.OutPerSecond, node.LagRows));
    }
}

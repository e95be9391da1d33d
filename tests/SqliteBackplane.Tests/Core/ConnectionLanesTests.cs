using System.Collections.Concurrent;
using SqliteBackplane.Internal.Delivery;
using SqliteBackplane.Tests.Infrastructure;
using Xunit;

namespace SqliteBackplane.Tests.Core;

/// <summary>The fan-out lanes on their own: per-lane order, and a failing write that neither stalls a lane nor escapes.</summary>
public class ConnectionLanesTests
{
    [Fact]
    public async Task Work_posted_for_one_connection_runs_in_posting_order_and_later_work_queues_behind_it()
    {
        var lanes = new ConnectionLanes(4, ex => throw new InvalidOperationException("No work item should fail here.", ex));
        var seen = new ConcurrentQueue<int>();
        var release = new ManualResetEventSlim();
        var lane = lanes[lanes.IndexOf("connection-a")];

        // The first item blocks the lane, so everything after it, posted or run through RunInOrder, must wait.
        lane.Post(() => release.Wait(TimeSpan.FromSeconds(30)));
        for (var i = 0; i < 100; i++)
        {
            var value = i;
            lane.Post(() => seen.Enqueue(value));
        }

        lanes.RunInOrder("connection-a", () => seen.Enqueue(100));
        Assert.Empty(seen);
        Assert.False(lane.IsIdle);

        release.Set();
        await Eventually.BecomesTrueAsync(() => lane.IsIdle, TimeSpan.FromSeconds(15), "the lane to drain");
        Assert.Equal(Enumerable.Range(0, 101), seen);

        // An idle lane runs the work on the caller at once.
        var thread = -1;
        lanes.RunInOrder("connection-a", () => thread = Environment.CurrentManagedThreadId);
        Assert.Equal(Environment.CurrentManagedThreadId, thread);
    }

    [Fact]
    public async Task A_work_item_that_throws_is_reported_and_the_lane_goes_on()
    {
        var errors = new ConcurrentQueue<Exception>();
        var lanes = new ConnectionLanes(2, errors.Enqueue);
        var lane = lanes[0];
        var ranAfter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        lane.Post(() => throw new InvalidOperationException("write failed"));
        lane.Post(ranAfter.SetResult);

        await ranAfter.Task.DefaultTimeout("the work item after the failing one to run");
        var error = Assert.Single(errors);
        Assert.Equal("write failed", error.Message);
        await Eventually.BecomesTrueAsync(() => lane.IsIdle, TimeSpan.FromSeconds(15), "the lane to become idle");
    }
}

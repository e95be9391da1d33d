using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.MultiProcess;

/// <summary>
/// Graceful stops (SIGTERM) of a server whose clients keep reconnecting while it stops, with short host shutdown
/// timeouts: the process must exit 0 every time, say in one line whether it removed its rows, and the other server
/// must keep delivering every message.
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ShutdownTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    private const string RowsRemovedLine = "stopped and removed its";
    private const string RowsLeftLine = "stopped without removing its rows";

    /// <summary>From no time at all for the backplane to enough time for it, cycled over the iterations.</summary>
    private static readonly TimeSpan[] ShutdownTimeouts =
        [TimeSpan.Zero, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(3)];

    /// <summary>The test server's short heartbeat and node timeout, so reaping what a stop leaves takes seconds.</summary>
    private TestServerSettings Settings => new() { DatabasePath = Database.Path };

    [Fact]
    public async Task Stopping_while_clients_reconnect_exits_0_every_time_and_the_other_server_loses_nothing()
    {
        var survivor = await StartAsync(Settings, "survivor");
        var sender = await ConnectAsync(survivor, "sender");
        var watcher = await ConnectAsync(survivor, "watcher");
        var sent = 0;

        for (var iteration = 0; iteration < 10; iteration++)
        {
            var shutdownTimeout = ShutdownTimeouts[iteration % ShutdownTimeouts.Length];
            var stopping = await StartAsync(Settings with { ShutdownTimeout = shutdownTimeout }, $"stopping-{iteration}");
            var member = await ConnectAsync(stopping, $"member-{iteration}");
            await member.InvokeAsync(nameof(TestHub.AddToGroup), member.ConnectionId, "room");

            using var stopReconnecting = new CancellationTokenSource();
            var reconnecting = Enumerable.Range(0, 3)
                .Select(n => ReconnectInALoopAsync(stopping, $"reconnecting-{iteration}-{n}", stopReconnecting.Token))
                .ToArray();
            await Task.WhenAll(reconnecting.Select(loop => loop.FirstConnected)).DefaultTimeout("every reconnecting client to connect once");

            // The survivor's clients talk all through the stop.
            using var stopSending = new CancellationTokenSource();
            var firstOfIteration = sent + 1;
            var sending = Task.Run(async () =>
            {
                while (!stopSending.IsCancellationRequested)
                {
                    await sender.InvokeAsync(nameof(TestHub.SendAll), $"m{Interlocked.Increment(ref sent)}");
                }
            });

            var exitCode = await stopping.StopAsync();
            stopReconnecting.Cancel();
            await Task.WhenAll(reconnecting.Select(loop => loop.Completion)).DefaultTimeout("the reconnect loops to end");
            await stopSending.CancelAsync();
            await sending.DefaultTimeout("the sender to finish its last send");

            Assert.True(exitCode == 0, $"{stopping.Name} (ShutdownTimeout {shutdownTimeout}) exited with {exitCode}.{Environment.NewLine}{stopping.Output}");
            var rowLines = stopping.Output.Split('\n').Count(line => line.Contains(RowsRemovedLine, StringComparison.Ordinal) || line.Contains(RowsLeftLine, StringComparison.Ordinal));
            Assert.True(rowLines == 1, $"{stopping.Name} must say once whether it removed its rows; it said so {rowLines} times.{Environment.NewLine}{stopping.Output}");
            AssertQuiet(stopping);
            Output.WriteLine($"Iteration {iteration}: ShutdownTimeout {shutdownTimeout.TotalMilliseconds} ms, rows {(stopping.Output.Contains(RowsRemovedLine, StringComparison.Ordinal) ? "removed" : "left for reaping")}, {reconnecting.Sum(loop => loop.Connections)} reconnects.");

            if (stopping.Output.Contains(RowsRemovedLine, StringComparison.Ordinal))
            {
                Assert.False(ConnectionRowExists(member.ConnectionId), "The node said it removed its rows, but its member's connection row is still there.");
            }
            else
            {
                await Eventually.BecomesTrueAsync(() => !ConnectionRowExists(member.ConnectionId), TimeSpan.FromSeconds(15), "the survivor reaps the stopped node's connection");
            }

            for (var expected = firstOfIteration; expected <= sent; expected++)
            {
                await watcher.AssertReceivesAsync($"m{expected}");
            }
        }

        Assert.True(sent > 10, $"The survivor's sender sent only {sent} messages during ten stops.");
    }

    [Fact]
    public async Task A_plain_stop_removes_the_rows_and_says_so_in_one_line()
    {
        var survivor = await StartAsync(Settings, "survivor");
        var watcher = await ConnectAsync(survivor, "watcher");
        var stopping = await StartAsync(Settings, "stopping");
        var members = new List<TestClient>();
        for (var i = 0; i < 5; i++)
        {
            var member = await ConnectAsync(stopping, $"member-{i}");
            await member.InvokeAsync(nameof(TestHub.AddToGroup), member.ConnectionId, "room");
            members.Add(member);
        }

        var exitCode = await stopping.StopAsync();

        Assert.Equal(0, exitCode);
        Assert.Single(stopping.Output.Split('\n'), line => line.Contains(RowsRemovedLine, StringComparison.Ordinal));
        AssertQuiet(stopping);
        Assert.All(members, member => Assert.False(ConnectionRowExists(member.ConnectionId), $"{member.Description} is still in the connections table."));
        await watcher.InvokeAsync(nameof(TestHub.SendAll), "after the stop");
        await watcher.AssertReceivesAsync("after the stop");
    }

    /// <summary>Expected conditions during a stop are logged in one line each, without a stack trace.</summary>
    private static void AssertQuiet(ServerProcess stopped)
    {
        Assert.False(stopped.Output.Contains("   at ", StringComparison.Ordinal), $"{stopped.Name} printed a stack trace while stopping:{Environment.NewLine}{stopped.Output}");
        Assert.False(stopped.Output.Contains("Could not remove disconnected connection", StringComparison.Ordinal),
            $"{stopped.Name} warned about each connection while stopping:{Environment.NewLine}{stopped.Output}");
    }

    private bool ConnectionRowExists(string connectionId) =>
        BackplaneTables.AnyRowMentions(Database, SqliteBackplaneOptions.DefaultTablePrefix, "connections", connectionId);

    /// <summary>A client that connects to <paramref name="server"/> again each time its connection closes, as a browser would.</summary>
    private ReconnectLoop ReconnectInALoopAsync(ServerProcess server, string user, CancellationToken stop)
    {
        var loop = new ReconnectLoop();
        loop.Completion = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await using var client = await server.ConnectAsync(user);
                    loop.Connected();
                    await client.Closed.WaitAsync(stop);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                }
                catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
                {
                    // Refused or cut off while the server stops: try again, like a browser's automatic reconnect.
                    await Task.Delay(TimeSpan.FromMilliseconds(20), CancellationToken.None);
                }
            }
        }, CancellationToken.None);
        return loop;
    }

    private sealed class ReconnectLoop
    {
        private readonly TaskCompletionSource _firstConnected = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _connections;

        public Task FirstConnected => _firstConnected.Task;

        public int Connections => Volatile.Read(ref _connections);

        public Task Completion { get; set; } = Task.CompletedTask;

        public void Connected()
        {
            Interlocked.Increment(ref _connections);
            _firstConnected.TrySetResult();
        }
    }
}

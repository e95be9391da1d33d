using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Reliability;

/// <summary>
/// A server restarts on the same file with the same identity source (same command line and machine; in process, the
/// same options instance). The restarted node replays nothing written before it started, and nobody gets a message twice.
/// Complements LogOrderingTests.Startup_reads_from_the_end_of_the_log (a second node, not a restart).
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
public sealed class RestartTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    [Fact]
    public async Task A_killed_and_restarted_server_replays_no_old_rows_and_nobody_gets_duplicates()
    {
        var settings = new TestServerSettings { DatabasePath = Database.Path };
        var steady = await StartAsync(settings, "steady");
        var restarting = await StartAsync(settings, "restarting");
        var steadyClient = await ConnectAsync(steady, "alice");
        var beforeClient = await ConnectAsync(restarting, "bob");
        await steadyClient.InvokeAsync(nameof(TestHub.AddToGroup), beforeClient.ConnectionId, "room");
        for (var i = 0; i < 20; i++)
        {
            await steadyClient.InvokeAsync(nameof(TestHub.SendAll), $"old-{i}");
            await steadyClient.InvokeAsync(nameof(TestHub.SendGroup), "room", $"old-room-{i}");
        }

        await beforeClient.AssertReceivesAsync("old-0");
        await restarting.KillAsync();
        // Rows written while the server is down: the restarted one must not deliver them either.
        for (var i = 0; i < 20; i++)
        {
            await steadyClient.InvokeAsync(nameof(TestHub.SendAll), $"gap-{i}");
        }

        var restarted = await StartAsync(settings, "restarted");
        var afterClient = await ConnectAsync(restarted, "bob");
        await steadyClient.InvokeAsync(nameof(TestHub.AddToGroup), afterClient.ConnectionId, "room");
        for (var i = 0; i < 20; i++)
        {
            await steadyClient.InvokeAsync(nameof(TestHub.SendUser), "bob", $"new-user-{i}");
            await afterClient.InvokeAsync(nameof(TestHub.SendAll), $"new-all-{i}");
            await steadyClient.InvokeAsync(nameof(TestHub.SendGroup), "room", $"new-room-{i}");
        }

        // The survivor's client sees the restarted server's last broadcast before "end" is sent, so "end" comes last
        // everywhere (sends from two servers are ordered by commit, and a send returns once queued).
        var steadyReceived = new List<string>();
        while (steadyReceived.LastOrDefault() != "new-all-19")
        {
            steadyReceived.Add(await steadyClient.ReceiveAsync());
        }

        await steadyClient.InvokeAsync(nameof(TestHub.SendAll), "end");
        var received = new List<string>();
        while (received.LastOrDefault() != "end")
        {
            received.Add(await afterClient.ReceiveAsync());
        }

        // The restarted server's client: every new message once, each server's in the order it was sent, nothing old.
        Output.WriteLine($"The restarted server's client received {received.Count} messages.");
        var expected = Enumerable.Range(0, 20).SelectMany(i => new[] { $"new-user-{i}", $"new-all-{i}", $"new-room-{i}" }).Append("end").ToList();
        Assert.Equal(expected.Order(StringComparer.Ordinal), received.Order(StringComparer.Ordinal));
        Assert.Equal(expected.Where(m => !m.StartsWith("new-all-", StringComparison.Ordinal)), received.Where(m => !m.StartsWith("new-all-", StringComparison.Ordinal)));
        Assert.Equal(expected.Where(m => m.StartsWith("new-all-", StringComparison.Ordinal)), received.Where(m => m.StartsWith("new-all-", StringComparison.Ordinal)));

        // The survivor's client: all old, gap and new broadcasts, once each, in order, then nothing else.
        while (steadyReceived.LastOrDefault() != "end")
        {
            steadyReceived.Add(await steadyClient.ReceiveAsync());
        }

        var steadyExpected = Enumerable.Range(0, 20).Select(i => $"old-{i}")
            .Concat(Enumerable.Range(0, 20).Select(i => $"gap-{i}"))
            .Concat(Enumerable.Range(0, 20).Select(i => $"new-all-{i}"))
            .Append("end").ToList();
        Assert.Equal(steadyExpected, steadyReceived);
        ServerLogs.AssertNoErrors(steady);
        ServerLogs.AssertNoErrors(restarted);
    }

    [Fact]
    public async Task A_node_restarted_from_the_same_options_instance_replays_nothing()
    {
        var options = new SqliteBackplaneOptions { ConnectionString = Database.ConnectionString, HeartbeatInterval = TimeSpan.FromSeconds(1), NodeTimeout = TimeSpan.FromSeconds(5) };
        using var other = DirectManagers.Create(Database);
        var first = Create(options);
        await using var firstClient = new RecordingFakeClient("u");
        await first.OnConnectedAsync(firstClient.Connection).DefaultTimeout();
        for (var i = 0; i < 10; i++)
        {
            await other.SendAllAsync(ClientMethods.Receive, [$"old-{i}"]).DefaultTimeout();
        }

        await Eventually.BecomesTrueAsync(() => firstClient.HasReceived("old-9"), TaskTimeoutExtensions.DefaultTimeoutValue, "the first node's client received the old rows");
        var firstNodeId = first.Node.NodeId;
        first.Dispose();
        await other.SendAllAsync(ClientMethods.Receive, ["gap"]).DefaultTimeout();

        using var second = Create(options);
        await using var secondClient = new RecordingFakeClient("u");
        await second.OnConnectedAsync(secondClient.Connection).DefaultTimeout();
        Assert.NotEqual(firstNodeId, second.Node.NodeId);
        await other.SendAllAsync(ClientMethods.Receive, ["new"]).DefaultTimeout();
        await other.SendUserAsync("u", ClientMethods.Receive, ["end"]).DefaultTimeout();

        await Eventually.BecomesTrueAsync(() => secondClient.HasReceived("end"), TaskTimeoutExtensions.DefaultTimeoutValue, "the restarted node's client received the new rows");
        Assert.Equal(["new", "end"], secondClient.Messages);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"old-{i}"), firstClient.Messages);
    }

    private static SqliteHubLifetimeManager<TestHub> Create(SqliteBackplaneOptions options) =>
        new(NullLogger<SqliteHubLifetimeManager<TestHub>>.Instance, Options.Create(options), new TestProtocolResolver());
}

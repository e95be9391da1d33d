using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.MultiProcess;

/// <summary>
/// A server process dies without any cleanup (SIGKILL). The survivor must notice within the node timeout, remove the
/// dead node's connections, and fail callers waiting on a client result from one of them.
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
public sealed class CrashTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    private TestServerSettings Settings => new()
    {
        DatabasePath = Database.Path,
        HeartbeatInterval = TimeSpan.FromMilliseconds(200),
        NodeTimeout = TimeSpan.FromMilliseconds(1500),
    };

    /// <summary>Generous against the 1.5 s node timeout, for a loaded two-core CI machine.</summary>
    private static readonly TimeSpan ReapTimeout = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task The_survivor_reaps_a_killed_server_and_fails_its_pending_client_result()
    {
        var survivor = await StartAsync(Settings, "survivor");
        var doomed = await StartAsync(Settings, "doomed");
        var caller = await ConnectAsync(survivor, "caller");
        var witness = await ConnectAsync(survivor, "witness");
        var victim = await ConnectAsync(doomed, "victim");
        Assert.True(ConnectionRowExists(victim.ConnectionId), "Before the crash, the victim's connection must be in the connections table.");
        var pending = await PendingClientResultAsync(caller, victim);

        await doomed.KillAsync();

        var failure = await Assert.ThrowsAsync<Microsoft.AspNetCore.SignalR.HubException>(() => pending.TimeoutAfter(ReapTimeout, "the pending client result to fail"));
        Output.WriteLine($"The pending client result failed with: {failure.Message}");
        var reapedAfter = await Eventually.BecomesTrueAsync(() => !ConnectionRowExists(victim.ConnectionId), ReapTimeout, "the victim's connection row is removed");
        Output.WriteLine($"The victim's connection row was gone {reapedAfter.TotalMilliseconds:0} ms after the client result failed.");

        // The dead connection is unknown now, and the survivor keeps serving its own connections.
        var unknown = await Assert.ThrowsAsync<Microsoft.AspNetCore.SignalR.HubException>(() => caller.InvokeAsync<int>(nameof(TestHub.InvokeClientResult), victim.ConnectionId, 1));
        Assert.EndsWith($"IOException: Connection '{victim.ConnectionId}' does not exist.", unknown.Message);
        await caller.InvokeAsync(nameof(TestHub.SendUser), "victim", "to the dead");
        await caller.InvokeAsync(nameof(TestHub.SendAll), "still alive");
        await caller.AssertReceivesAsync("still alive");
        await witness.AssertReceivesAsync("still alive");
    }

    [Fact]
    public async Task On_linux_and_macos_a_killed_server_is_noticed_within_seconds_not_after_the_node_timeout()
    {
        if (OperatingSystem.IsWindows())
        {
            // Windows has no lock files here: heartbeats alone detect a crash, after NodeTimeout.
            return;
        }

        var settings = Settings with { HeartbeatInterval = TimeSpan.FromSeconds(2), NodeTimeout = TimeSpan.FromSeconds(30) };
        var survivor = await StartAsync(settings, "survivor");
        var doomed = await StartAsync(settings, "doomed");
        var caller = await ConnectAsync(survivor, "caller");
        var victim = await ConnectAsync(doomed, "victim");
        var pending = await PendingClientResultAsync(caller, victim);
        Assert.Single(await caller.InvokeAsync<string[]>(nameof(TestHub.GetUserConnections), "victim"));

        await doomed.KillAsync();
        var killedAt = System.Diagnostics.Stopwatch.StartNew();

        var failure = await Assert.ThrowsAsync<Microsoft.AspNetCore.SignalR.HubException>(() => pending.TimeoutAfter(FastDetection, "the pending client result to fail"));
        Assert.Contains("Connection disconnected.", failure.Message, StringComparison.Ordinal);
        Output.WriteLine($"The pending client result failed {killedAt.ElapsedMilliseconds} ms after the kill (node timeout 30 s).");
        await Eventually.BecomesTrueAsync(
            () => caller.InvokeAsync<string[]>(nameof(TestHub.GetUserConnections), "victim").GetAwaiter().GetResult().Length == 0,
            FastDetection - killedAt.Elapsed, "the survivor's presence drops the killed server's user");
        Output.WriteLine($"The survivor's presence had dropped the victim {killedAt.ElapsedMilliseconds} ms after the kill.");
        Assert.Contains("the kernel released its lock file", survivor.Output, StringComparison.Ordinal);
    }

    /// <summary>What issue 13 promises for Linux and macOS, against a 30 s node timeout.</summary>
    private static readonly TimeSpan FastDetection = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task A_killed_server_leaves_its_groups_and_a_new_server_joins_the_file()
    {
        var survivor = await StartAsync(Settings, "survivor");
        var doomed = await StartAsync(Settings, "doomed");
        var sender = await ConnectAsync(survivor, "sender");
        var member = await ConnectAsync(survivor, "member");
        var victim = await ConnectAsync(doomed, "victim");
        await sender.InvokeAsync(nameof(TestHub.AddToGroup), member.ConnectionId, "room");
        await sender.InvokeAsync(nameof(TestHub.AddToGroup), victim.ConnectionId, "room");

        await doomed.KillAsync();
        await Eventually.BecomesTrueAsync(() => !ConnectionRowExists(victim.ConnectionId), ReapTimeout, "the victim's connection row is removed");
        var replacement = await StartAsync(Settings, "replacement");
        var newcomer = await ConnectAsync(replacement, "newcomer");
        await sender.InvokeAsync(nameof(TestHub.AddToGroup), newcomer.ConnectionId, "room");
        await sender.InvokeAsync(nameof(TestHub.SendGroup), "room", "after the crash");

        await member.AssertReceivesAsync("after the crash");
        await newcomer.AssertReceivesAsync("after the crash");
        Assert.False(BackplaneTables.AnyRowMentions(Database, SqliteBackplaneOptions.DefaultTablePrefix, "groups", victim.ConnectionId),
            "The killed server's group memberships must be removed with its connections.");
    }

    /// <summary>Starts a client-result call from <paramref name="caller"/> to <paramref name="victim"/>, which never answers; returns once the victim was asked.</summary>
    private static async Task<Task<int>> PendingClientResultAsync(TestClient caller, TestClient victim)
    {
        var asked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        victim.OnCompute(_ =>
        {
            asked.TrySetResult();
            return new TaskCompletionSource<int>().Task;
        });
        var pending = caller.InvokeAsync<int>(nameof(TestHub.InvokeClientResult), victim.ConnectionId, 1);
        await asked.Task.DefaultTimeout("the victim to be asked for a result");
        return pending;
    }

    private bool ConnectionRowExists(string connectionId) =>
        BackplaneTables.AnyRowMentions(Database, SqliteBackplaneOptions.DefaultTablePrefix, "connections", connectionId);
}

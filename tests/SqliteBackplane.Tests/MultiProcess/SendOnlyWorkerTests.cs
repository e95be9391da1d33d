using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.MultiProcess;

/// <summary>
/// A worker process without a web server (a generic host with <c>AddSignalR().AddSqliteBackplane(..)</c>) sends through
/// <c>IHubContext&lt;TestHub&gt;</c>; the clients of two web processes receive each send exactly once.
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
public sealed class SendOnlyWorkerTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    [Fact]
    public async Task A_worker_reaches_all_a_group_a_user_and_a_connection_on_the_web_processes_exactly_once()
    {
        var settings = new TestServerSettings { DatabasePath = Database.Path };
        var first = await StartAsync(settings, "web-1");
        var second = await StartAsync(settings, "web-2");
        var alice = await ConnectAsync(first, "alice");
        var dave = await ConnectAsync(first, "dave");
        var bob = await ConnectAsync(second, "bob");
        var carol = await ConnectAsync(second, "carol");
        await alice.InvokeAsync(nameof(TestHub.AddToGroup), alice.ConnectionId, "room");
        await alice.InvokeAsync(nameof(TestHub.AddToGroup), bob.ConnectionId, "room");

        var (exitCode, workerOutput) = await ServerProcess.RunWorkerAsync(
            settings with { Sends = ["all:to everyone", "group:room:to the room", "user:carol:to carol", $"connection:{dave.ConnectionId}:to dave"] },
            "worker", Output);

        Assert.True(exitCode == 0, $"The worker exited with {exitCode}:{Environment.NewLine}{workerOutput}");
        Assert.Contains(SendOnlyWorker.SentPrefix + "4", workerOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", workerOutput, StringComparison.Ordinal);
        // Everything the worker sent is in the log before this, so "end" is the next message after exactly those.
        await bob.InvokeAsync(nameof(TestHub.SendAll), "end");
        Assert.Equal(["to everyone", "to the room", "end"], await alice.ReceiveAsync(3));
        Assert.Equal(["to everyone", "to the room", "end"], await bob.ReceiveAsync(3));
        Assert.Equal(["to everyone", "to carol", "end"], await carol.ReceiveAsync(3));
        Assert.Equal(["to everyone", "to dave", "end"], await dave.ReceiveAsync(3));
    }
}

using Microsoft.AspNetCore.SignalR.Client;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Conformance;

/// <summary>
/// The conformance suite on two TestServer OS processes with the official .NET client over TCP, plus what only
/// separate processes can show (a process that dies). The SQLite backplane and Microsoft's Redis backplane both run
/// it; where they differ by design, the derived class says which behaviour to expect and the test asserts it.
/// </summary>
public abstract class CrossProcessConformanceTests(ITestOutputHelper output) : ConformanceTests(output)
{
    /// <summary>How long the hub waits for the client result before it gives up by itself.</summary>
    private const int ServerSideCancelMilliseconds = 8000;

    protected override int ServerCount => 2;

    /// <summary>
    /// Whether a client result pending on a connection of a process that dies fails (SQLite: once the node timeout
    /// marks the process dead). Redis never fails it: the caller waits until it cancels by itself.
    /// </summary>
    protected virtual bool FailsClientResultsWhenTheOwnerProcessDies => true;

    /// <summary>Whether the backplane offers <c>ISqliteBackplanePresence&lt;THub&gt;</c> (the SQLite backplane's own API).</summary>
    protected virtual bool HasPresenceApi => true;

    protected override async Task<ITestServerInstance> StartServerCoreAsync(TestServerSettings settings, string name) =>
        await ServerProcess.StartAsync(settings, name, Output);

    [Fact]
    public async Task A_client_result_pending_when_the_owner_process_dies_fails_unless_the_backplane_never_learns_of_it()
    {
        var caller = await ConnectAsync(0, "caller");
        var target = await Server(1).ConnectAsync("target");
        var asked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        target.OnCompute(_ =>
        {
            asked.TrySetResult();
            return new TaskCompletionSource<int>().Task;
        });
        var call = caller.Connection.InvokeAsync<int>(nameof(TestHub.InvokeClientResultWithCancellation), target.ConnectionId, 1, ServerSideCancelMilliseconds);
        await asked.Task.DefaultTimeout("the target to be asked for a result");

        await ((ServerProcess)Server(1)).KillAsync();
        var message = await AssertHubFailsAsync(call.TimeoutAfter(TimeSpan.FromSeconds(30), "the pending client result to end"));
        await target.DisposeAsync();

        Assert.Equal(
            FailsClientResultsWhenTheOwnerProcessDies ? "HubException: Connection disconnected." : "HubException: Invocation canceled by the server.",
            message);
        await caller.InvokeAsync(nameof(TestHub.SendAll), "still serving");
        await caller.AssertReceivesAsync("still serving");
    }

    [Fact]
    public async Task The_presence_API_counts_connections_on_every_process_where_the_backplane_has_one()
    {
        var caller = await ConnectAsync(0, "caller");
        await ConnectAsync(1, "other");

        if (HasPresenceApi)
        {
            Assert.Equal(2, await caller.InvokeAsync<int>(nameof(TestHub.GetConnectionCount)));
            return;
        }
        var message = await AssertHubFailsAsync(caller.InvokeAsync<int>(nameof(TestHub.GetConnectionCount)));
        Assert.Equal("InvalidOperationException: ISqliteBackplanePresence<TestHub> is not registered (is the backplane enabled?).", message);
    }
}

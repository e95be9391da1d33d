using Microsoft.AspNetCore.SignalR.Client;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Conformance;

public abstract partial class ConformanceTests
{
    [Theory]
    [InlineData(0, HubProtocolKind.Json)]
    [InlineData(1, HubProtocolKind.Json)]
    [InlineData(1, HubProtocolKind.NewtonsoftJson)]
    [InlineData(1, HubProtocolKind.PrefixedJson)]
    [InlineData(1, HubProtocolKind.MessagePack)]
    public async Task Client_result_comes_back_from_a_connection_on_the_same_or_another_server(int targetServer, HubProtocolKind targetProtocol)
    {
        var caller = await ConnectAsync(0, "caller");
        var target = await ConnectAsync(targetServer, "target", targetProtocol);
        target.OnCompute(argument => Task.FromResult(argument * 2));

        var results = new List<int>();
        for (var i = 1; i <= 5; i++)
        {
            results.Add(await caller.InvokeAsync<int>(nameof(TestHub.InvokeClientResult), target.ConnectionId, i));
        }

        Assert.Equal([2, 4, 6, 8, 10], results);
    }

    [Fact]
    public async Task Client_result_from_the_caller_itself_comes_back()
    {
        var caller = await ConnectAsync(1, "caller");
        caller.OnCompute(argument => Task.FromResult(argument + 1));

        Assert.Equal(8, await caller.InvokeAsync<int>(nameof(TestHub.InvokeClientResult), caller.ConnectionId, 7));
    }

    [Fact]
    public async Task Client_result_from_a_connection_that_exists_nowhere_fails_at_once_with_IOException()
    {
        var caller = await ConnectAsync(0, "caller");
        await ConnectAsync(1, "other");

        var message = await AssertHubFailsAsync(caller.InvokeAsync<int>(nameof(TestHub.InvokeClientResult), "no-such-connection", 1));

        Assert.Equal("IOException: Connection 'no-such-connection' does not exist.", message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task Client_result_fails_with_HubException_when_the_target_disconnects(int targetServer)
    {
        var caller = await ConnectAsync(0, "caller");
        var target = await Server(targetServer).ConnectAsync("target");
        var invoked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var never = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        target.OnCompute(_ =>
        {
            invoked.TrySetResult();
            return never.Task;
        });

        var call = caller.InvokeAsync<int>(nameof(TestHub.InvokeClientResult), target.ConnectionId, 1);
        await invoked.Task.DefaultTimeout("the target to be asked for a result");
        await target.DisposeAsync();
        var message = await AssertHubFailsAsync(call);

        // Like SignalR's in-box manager for a local target, and Microsoft's Redis backplane for a remote one.
        var expected = OnSameServer(0, targetServer)
            ? $"IOException: Connection '{target.ConnectionId}' disconnected."
            : "HubException: Connection disconnected.";
        Assert.Equal(expected, message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task Client_result_of_the_wrong_type_fails_with_the_protocol_error(int targetServer)
    {
        var caller = await ConnectAsync(0, "caller");
        var target = await ConnectAsync(targetServer, "target");
        target.Connection.On<int, string>(ClientMethods.Compute, _ => Task.FromResult("not a number"));

        var message = await AssertHubFailsAsync(caller.InvokeAsync<int>(nameof(TestHub.InvokeClientResult), target.ConnectionId, 1));

        Assert.StartsWith("HubException: Error trying to deserialize result to Int32.", message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task Client_result_error_thrown_by_the_client_reaches_the_caller(int targetServer)
    {
        var caller = await ConnectAsync(0, "caller");
        var target = await ConnectAsync(targetServer, "target");
        target.OnCompute(_ => throw new InvalidOperationException("the client refuses"));

        var message = await AssertHubFailsAsync(caller.InvokeAsync<int>(nameof(TestHub.InvokeClientResult), target.ConnectionId, 1));

        Assert.Equal("HubException: the client refuses", message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task Client_result_cancellation_is_honoured_and_the_target_keeps_working(int targetServer)
    {
        var caller = await ConnectAsync(0, "caller");
        var target = await ConnectAsync(targetServer, "target");
        var stalled = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        target.OnCompute(_ => stalled.Task);

        var message = await AssertHubFailsAsync(caller.InvokeAsync<int>(nameof(TestHub.InvokeClientResultWithCancellation), target.ConnectionId, 1, 300));
        // A late answer to the cancelled call must be ignored, and the next call must work.
        stalled.SetResult(99);
        target.OnCompute(argument => Task.FromResult(argument * 3));
        var next = await caller.InvokeAsync<int>(nameof(TestHub.InvokeClientResult), target.ConnectionId, 5);

        Assert.Equal("HubException: Invocation canceled by the server.", message);
        Assert.Equal(15, next);
    }
}

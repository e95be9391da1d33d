using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.ManagerConformance;

/// <summary>
/// The lifetime-manager contract checked directly, without a host, in the style of aspnetcore's
/// ScaleoutHubLifetimeManagerTests. <see cref="First"/> and <see cref="Second"/> are two servers on one file (or the
/// same manager, for the one-server topology). Negative checks send a marker afterwards and expect it next.
/// </summary>
public abstract class ManagerConformanceTests : IAsyncLifetime
{
    private readonly List<FakeClient> _clients = [];

    protected TempDatabase Database { get; } = new();

    protected HubLifetimeManager<TestHub> First { get; private set; } = null!;

    protected HubLifetimeManager<TestHub> Second { get; private set; } = null!;

    /// <summary>Creates the two managers under test (they may be the same instance).</summary>
    protected abstract (HubLifetimeManager<TestHub> First, HubLifetimeManager<TestHub> Second) CreateManagers();

    /// <summary>Whether <see cref="First"/> and <see cref="Second"/> are different servers.</summary>
    protected bool TwoServers => !ReferenceEquals(First, Second);

    public Task InitializeAsync()
    {
        (First, Second) = CreateManagers();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var client in _clients)
        {
            await client.DisposeAsync();
        }
        foreach (var manager in new[] { First, Second }.Distinct())
        {
            (manager as IDisposable)?.Dispose();
        }
        Database.Dispose();
    }

    protected async Task<FakeClient> ConnectAsync(HubLifetimeManager<TestHub> manager, string? user = null, HubProtocolKind protocol = HubProtocolKind.Json)
    {
        var client = new FakeClient(user, protocol);
        _clients.Add(client);
        await manager.OnConnectedAsync(client.Connection).DefaultTimeout();
        return client;
    }

    /// <summary>
    /// Waits until the sends <paramref name="manager"/> has returned from are committed. A SQLite send returns once it
    /// is queued in its process, so across servers it is ordered before another server's later operations only once
    /// committed (within one server, queue order is log order and no wait is needed). Other managers: nothing to wait for.
    /// </summary>
    protected static Task CommittedAsync(HubLifetimeManager<TestHub> manager) =>
        manager is SqliteHubLifetimeManager<TestHub> sqlite ? sqlite.Node.Writes.WhenWrittenAsync().DefaultTimeout("queued sends to commit") : Task.CompletedTask;

    protected async Task AssertNoMoreMessagesAsync(HubLifetimeManager<TestHub> sender, params FakeClient[] clients)
    {
        var marker = $"marker-{Guid.NewGuid():N}";
        await sender.SendConnectionsAsync(clients.Select(c => c.ConnectionId).ToArray(), ClientMethods.Receive, [marker]).DefaultTimeout();
        foreach (var client in clients)
        {
            await client.AssertReceivesAsync(marker);
        }
    }

    [Fact]
    public async Task SendAllAsync_writes_to_every_connection_of_both_managers()
    {
        var onFirst = await ConnectAsync(First);
        var onSecond = await ConnectAsync(Second, protocol: HubProtocolKind.PrefixedJson);

        await First.SendAllAsync(ClientMethods.Receive, ["hello"]).DefaultTimeout();

        await onFirst.AssertReceivesAsync("hello");
        await onSecond.AssertReceivesAsync("hello");
        await AssertNoMoreMessagesAsync(Second, onFirst, onSecond);
    }

    [Fact]
    public async Task SendAllExceptAsync_skips_excluded_connections_of_both_managers()
    {
        var excludedFirst = await ConnectAsync(First);
        var excludedSecond = await ConnectAsync(Second);
        var included = await ConnectAsync(Second);

        await First.SendAllExceptAsync(ClientMethods.Receive, ["except"], [excludedFirst.ConnectionId, excludedSecond.ConnectionId]).DefaultTimeout();

        await included.AssertReceivesAsync("except");
        await AssertNoMoreMessagesAsync(First, excludedFirst, excludedSecond, included);
    }

    [Fact]
    public async Task SendConnectionAsync_and_SendConnectionsAsync_reach_connections_of_the_other_manager()
    {
        var onFirst = await ConnectAsync(First);
        var onSecond = await ConnectAsync(Second);
        var bystander = await ConnectAsync(Second);

        await First.SendConnectionAsync(onSecond.ConnectionId, ClientMethods.Receive, ["one"]).DefaultTimeout();
        await CommittedAsync(First);
        await Second.SendConnectionsAsync([onFirst.ConnectionId, onSecond.ConnectionId], ClientMethods.Receive, ["many"]).DefaultTimeout();

        await onSecond.AssertReceivesAsync("one");
        await onSecond.AssertReceivesAsync("many");
        await onFirst.AssertReceivesAsync("many");
        await AssertNoMoreMessagesAsync(First, onFirst, onSecond, bystander);
    }

    [Fact]
    public async Task Group_sends_follow_group_changes_made_through_either_manager()
    {
        var memberOnFirst = await ConnectAsync(First);
        var memberOnSecond = await ConnectAsync(Second);
        var excluded = await ConnectAsync(Second);
        var outsider = await ConnectAsync(First);
        // Each manager changes a group of a connection the other one owns.
        await Second.AddToGroupAsync(memberOnFirst.ConnectionId, "group").DefaultTimeout();
        await First.AddToGroupAsync(memberOnSecond.ConnectionId, "group").DefaultTimeout();
        await First.AddToGroupAsync(excluded.ConnectionId, "group").DefaultTimeout();

        await First.SendGroupAsync("group", ClientMethods.Receive, ["group"]).DefaultTimeout();
        await CommittedAsync(First);
        await Second.SendGroupsAsync(["group", "empty"], ClientMethods.Receive, ["groups"]).DefaultTimeout();
        await CommittedAsync(Second);
        await First.SendGroupExceptAsync("group", ClientMethods.Receive, ["group except"], [excluded.ConnectionId]).DefaultTimeout();
        await CommittedAsync(First);
        await Second.RemoveFromGroupAsync(memberOnFirst.ConnectionId, "group").DefaultTimeout();
        await Second.SendGroupAsync("group", ClientMethods.Receive, ["after remove"]).DefaultTimeout();

        foreach (var expected in new[] { "group", "groups", "group except" })
        {
            await memberOnFirst.AssertReceivesAsync(expected);
        }
        foreach (var expected in new[] { "group", "groups", "group except", "after remove" })
        {
            await memberOnSecond.AssertReceivesAsync(expected);
        }
        foreach (var expected in new[] { "group", "groups", "after remove" })
        {
            await excluded.AssertReceivesAsync(expected);
        }
        await AssertNoMoreMessagesAsync(First, memberOnFirst, memberOnSecond, excluded, outsider);
    }

    [Fact]
    public async Task User_sends_reach_every_connection_of_the_user_on_both_managers()
    {
        var aliceOnFirst = await ConnectAsync(First, "alice");
        var aliceOnSecond = await ConnectAsync(Second, "alice");
        var bobOnSecond = await ConnectAsync(Second, "bob");
        var carol = await ConnectAsync(First, "carol");

        await First.SendUserAsync("alice", ClientMethods.Receive, ["to alice"]).DefaultTimeout();
        await CommittedAsync(First);
        await Second.SendUsersAsync(["alice", "bob"], ClientMethods.Receive, ["to users"]).DefaultTimeout();

        await aliceOnFirst.AssertReceivesAsync("to alice");
        await aliceOnFirst.AssertReceivesAsync("to users");
        await aliceOnSecond.AssertReceivesAsync("to alice");
        await aliceOnSecond.AssertReceivesAsync("to users");
        await bobOnSecond.AssertReceivesAsync("to users");
        await AssertNoMoreMessagesAsync(Second, aliceOnFirst, aliceOnSecond, bobOnSecond, carol);
    }

    [Fact]
    public async Task A_disconnected_connection_receives_nothing_and_leaves_its_groups()
    {
        var leaving = await ConnectAsync(Second, "leaving");
        var staying = await ConnectAsync(Second);
        await First.AddToGroupAsync(leaving.ConnectionId, "group").DefaultTimeout();
        await First.AddToGroupAsync(staying.ConnectionId, "group").DefaultTimeout();

        await leaving.DisconnectAsync(Second);
        await First.SendGroupAsync("group", ClientMethods.Receive, ["after leave"]).DefaultTimeout();
        await First.SendUserAsync("leaving", ClientMethods.Receive, ["to gone user"]).DefaultTimeout();
        await First.SendConnectionAsync(leaving.ConnectionId, ClientMethods.Receive, ["to gone connection"]).DefaultTimeout();

        await staying.AssertReceivesAsync("after leave");
        await AssertNoMoreMessagesAsync(First, staying);
    }

    [Theory]
    [InlineData(HubProtocolKind.Json)]
    [InlineData(HubProtocolKind.NewtonsoftJson)]
    [InlineData(HubProtocolKind.PrefixedJson)]
    public async Task InvokeConnectionAsync_returns_the_result_from_a_connection_of_the_other_manager(HubProtocolKind protocol)
    {
        var target = await ConnectAsync(Second, protocol: protocol);

        var result = First.InvokeConnectionAsync<int>(target.ConnectionId, ClientMethods.Compute, [21], CancellationToken.None);
        var invocation = await target.ReadInvocationAsync();
        Assert.Equal(ClientMethods.Compute, invocation.Target);
        Assert.Equal([21], invocation.Arguments);
        Assert.NotNull(invocation.InvocationId);
        await target.CompleteAsync(Second, CompletionMessage.WithResult(invocation.InvocationId!, 42)).DefaultTimeout();

        Assert.Equal(42, await result.DefaultTimeout());
    }

    [Fact]
    public async Task InvokeConnectionAsync_for_an_unknown_connection_throws_IOException_at_once()
    {
        await ConnectAsync(Second);

        var exception = await Assert.ThrowsAsync<IOException>(() => First.InvokeConnectionAsync<int>("no-such-connection", ClientMethods.Compute, [1], CancellationToken.None).DefaultTimeout());

        Assert.Equal("Connection 'no-such-connection' does not exist.", exception.Message);
    }

    [Fact]
    public async Task InvokeConnectionAsync_fails_when_the_target_disconnects()
    {
        var target = await ConnectAsync(Second);

        var result = First.InvokeConnectionAsync<int>(target.ConnectionId, ClientMethods.Compute, [1], CancellationToken.None);
        await target.ReadInvocationAsync();
        await target.DisconnectAsync(Second);

        if (TwoServers)
        {
            var remote = await Assert.ThrowsAsync<HubException>(() => result.DefaultTimeout());
            Assert.Equal("Connection disconnected.", remote.Message);
        }
        else
        {
            var local = await Assert.ThrowsAsync<IOException>(() => result.DefaultTimeout());
            Assert.Equal($"Connection '{target.ConnectionId}' disconnected.", local.Message);
        }
    }

    [Fact]
    public async Task InvokeConnectionAsync_with_a_result_of_the_wrong_type_throws_the_protocol_error()
    {
        var target = await ConnectAsync(Second);

        var result = First.InvokeConnectionAsync<int>(target.ConnectionId, ClientMethods.Compute, [1], CancellationToken.None);
        var invocation = await target.ReadInvocationAsync();
        await target.CompleteAsync(Second, CompletionMessage.WithResult(invocation.InvocationId!, "not a number")).DefaultTimeout();

        var exception = await Assert.ThrowsAsync<HubException>(() => result.DefaultTimeout());
        Assert.StartsWith("Error trying to deserialize result to Int32.", exception.Message);
    }

    [Fact]
    public async Task InvokeConnectionAsync_with_an_error_from_the_client_throws_HubException_with_its_message()
    {
        var target = await ConnectAsync(Second);

        var result = First.InvokeConnectionAsync<int>(target.ConnectionId, ClientMethods.Compute, [1], CancellationToken.None);
        var invocation = await target.ReadInvocationAsync();
        await target.CompleteAsync(Second, CompletionMessage.WithError(invocation.InvocationId!, "the client refuses")).DefaultTimeout();

        var exception = await Assert.ThrowsAsync<HubException>(() => result.DefaultTimeout());
        Assert.Equal("the client refuses", exception.Message);
    }

    [Fact]
    public async Task SetConnectionResultAsync_from_the_wrong_connection_throws_InvalidOperationException()
    {
        var target = await ConnectAsync(Second);
        var impostor = await ConnectAsync(Second);

        var result = First.InvokeConnectionAsync<int>(target.ConnectionId, ClientMethods.Compute, [1], CancellationToken.None);
        var invocation = await target.ReadInvocationAsync();

        await Assert.ThrowsAsync<InvalidOperationException>(() =>
            impostor.CompleteAsAsync(Second, impostor.ConnectionId, CompletionMessage.WithResult(invocation.InvocationId!, 5)).DefaultTimeout());
        // The rightful connection can still complete it.
        await target.CompleteAsync(Second, CompletionMessage.WithResult(invocation.InvocationId!, 6)).DefaultTimeout();
        Assert.Equal(6, await result.DefaultTimeout());
    }

    [Fact]
    public async Task InvokeConnectionAsync_honours_cancellation()
    {
        var target = await ConnectAsync(Second);
        using var cancellation = new CancellationTokenSource();

        var result = First.InvokeConnectionAsync<int>(target.ConnectionId, ClientMethods.Compute, [1], cancellation.Token);
        await target.ReadInvocationAsync();
        cancellation.Cancel();

        var exception = await Assert.ThrowsAsync<HubException>(() => result.DefaultTimeout());
        Assert.Equal("Invocation canceled by the server.", exception.Message);
    }

    [Fact]
    public void TryGetReturnType_knows_no_unknown_invocation()
    {
        Assert.False(First.TryGetReturnType("no-such-invocation", out var type));
        Assert.Null(type);
    }
}

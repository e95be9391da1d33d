using Microsoft.AspNetCore.SignalR;

namespace SqliteBackplane.TestServer;

/// <summary>
/// The hub under test: each method performs one <see cref="HubLifetimeManager{THub}"/> operation through the public
/// hub API, so a test client can drive every operation on any server. Failures reach the caller as
/// <see cref="HubException"/> "{type}: {message}" (see <see cref="HubCall"/>).
/// </summary>
public sealed class TestHub(IServiceProvider services) : Hub
{
    /// <summary>Returns the caller's connection id. Completing it also proves the server finished OnConnectedAsync.</summary>
    public string GetConnectionId() => Context.ConnectionId;

    /// <summary>Returns the caller's user id.</summary>
    public string? GetUserId() => Context.UserIdentifier;

    /// <summary>The server process that holds this connection (the front-door tests check a connection stays on one).</summary>
    public int GetProcessId() => Environment.ProcessId;

    public Task SendAll(string message) => HubCall.RunAsync(() => Clients.All.SendAsync(ClientMethods.Receive, message));

    public Task SendAllExcept(string message, string[] excludedConnectionIds) =>
        HubCall.RunAsync(() => Clients.AllExcept(excludedConnectionIds).SendAsync(ClientMethods.Receive, message));

    public Task SendConnection(string connectionId, string message) =>
        HubCall.RunAsync(() => Clients.Client(connectionId).SendAsync(ClientMethods.Receive, message));

    public Task SendConnections(string[] connectionIds, string message) =>
        HubCall.RunAsync(() => Clients.Clients(connectionIds).SendAsync(ClientMethods.Receive, message));

    public Task SendGroup(string groupName, string message) =>
        HubCall.RunAsync(() => Clients.Group(groupName).SendAsync(ClientMethods.Receive, message));

    public Task SendGroups(string[] groupNames, string message) =>
        HubCall.RunAsync(() => Clients.Groups(groupNames).SendAsync(ClientMethods.Receive, message));

    public Task SendGroupExcept(string groupName, string message, string[] excludedConnectionIds) =>
        HubCall.RunAsync(() => Clients.GroupExcept(groupName, excludedConnectionIds).SendAsync(ClientMethods.Receive, message));

    public Task SendUser(string userId, string message) =>
        HubCall.RunAsync(() => Clients.User(userId).SendAsync(ClientMethods.Receive, message));

    public Task SendUsers(string[] userIds, string message) =>
        HubCall.RunAsync(() => Clients.Users(userIds).SendAsync(ClientMethods.Receive, message));

    public Task SendAllPayload(TestPayload payload) =>
        HubCall.RunAsync(() => Clients.All.SendAsync(ClientMethods.ReceivePayload, payload));

    public Task SendAllExact(ExactPayload payload) =>
        HubCall.RunAsync(() => Clients.All.SendAsync(ClientMethods.ReceiveExact, payload));

    public Task AddToGroup(string connectionId, string groupName) =>
        HubCall.RunAsync(() => Groups.AddToGroupAsync(connectionId, groupName));

    public Task RemoveFromGroup(string connectionId, string groupName) =>
        HubCall.RunAsync(() => Groups.RemoveFromGroupAsync(connectionId, groupName));

    /// <summary>Asks the client <paramref name="connectionId"/> (on any server) for a result and returns it.</summary>
    public Task<int> InvokeClientResult(string connectionId, int argument) =>
        HubCall.RunAsync(() => Clients.Client(connectionId).InvokeAsync<int>(ClientMethods.Compute, argument, Context.ConnectionAborted));

    /// <summary>Like <see cref="InvokeClientResult"/>, but gives up after <paramref name="cancelAfterMilliseconds"/>.</summary>
    public Task<int> InvokeClientResultWithCancellation(string connectionId, int argument, int cancelAfterMilliseconds) =>
        HubCall.RunAsync(async () =>
        {
            using var cancellation = new CancellationTokenSource(TimeSpan.FromMilliseconds(cancelAfterMilliseconds));
            return await Clients.Client(connectionId).InvokeAsync<int>(ClientMethods.Compute, argument, cancellation.Token);
        });

    /// <summary>Lists a user's connections on every server, through the backplane's presence API.</summary>
    public Task<string[]> GetUserConnections(string userId) =>
        HubCall.RunAsync(async () => (await Presence().GetUserConnectionsAsync(userId)).Order(StringComparer.Ordinal).ToArray());

    /// <summary>Counts this hub's connections on every server, through the backplane's presence API.</summary>
    public Task<int> GetConnectionCount() => HubCall.RunAsync(() => Presence().GetConnectionCountAsync());

    /// <summary>Lists this hub's online users on every server, through the backplane's presence API.</summary>
    public Task<string[]> GetOnlineUsers() => HubCall.RunAsync(async () => (await Presence().GetOnlineUsersAsync()).ToArray());

    private ISqliteBackplanePresence<TestHub> Presence() =>
        services.GetService<ISqliteBackplanePresence<TestHub>>()
        ?? throw new InvalidOperationException("ISqliteBackplanePresence<TestHub> is not registered (is the backplane enabled?).");
}

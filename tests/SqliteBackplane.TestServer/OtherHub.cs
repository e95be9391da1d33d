using Microsoft.AspNetCore.SignalR;

namespace SqliteBackplane.TestServer;

/// <summary>A second hub on the same servers, to check that hubs sharing one backplane file stay apart.</summary>
public sealed class OtherHub : Hub
{
    public string GetConnectionId() => Context.ConnectionId;

    public Task SendAll(string message) => HubCall.RunAsync(() => Clients.All.SendAsync(ClientMethods.Receive, message));

    public Task SendGroup(string groupName, string message) =>
        HubCall.RunAsync(() => Clients.Group(groupName).SendAsync(ClientMethods.Receive, message));

    public Task SendUser(string userId, string message) =>
        HubCall.RunAsync(() => Clients.User(userId).SendAsync(ClientMethods.Receive, message));

    public Task AddToGroup(string connectionId, string groupName) =>
        HubCall.RunAsync(() => Groups.AddToGroupAsync(connectionId, groupName));
}

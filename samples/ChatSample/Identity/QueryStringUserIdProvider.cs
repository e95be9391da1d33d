using Microsoft.AspNetCore.SignalR;

namespace ChatSample.Identity;

/// <summary>
/// Name-based identity for the sample: the user id is the <c>user</c> query-string value of the hub connection
/// (<c>/hubs/chat?user=alice</c>). There is no authentication: anyone may pick any valid name.
/// </summary>
public sealed class QueryStringUserIdProvider : IUserIdProvider
{
    public const string QueryKey = "user";

    public string? GetUserId(HubConnectionContext connection)
    {
        var requested = connection.GetHttpContext()?.Request.Query[QueryKey].ToString();
        return ChatNames.TryNormalizeUserName(requested, out var userName) ? userName : null;
    }
}

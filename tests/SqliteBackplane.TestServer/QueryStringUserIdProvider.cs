using Microsoft.AspNetCore.SignalR;

namespace SqliteBackplane.TestServer;

/// <summary>Takes the SignalR user id from the <c>user</c> query-string parameter, so tests need no authentication.</summary>
public sealed class QueryStringUserIdProvider : IUserIdProvider
{
    /// <summary>The query-string parameter that names the user.</summary>
    public const string ParameterName = "user";

    /// <inheritdoc />
    public string? GetUserId(HubConnectionContext connection)
    {
        var value = connection.GetHttpContext()?.Request.Query[ParameterName].ToString();
        return string.IsNullOrEmpty(value) ? null : value;
    }
}

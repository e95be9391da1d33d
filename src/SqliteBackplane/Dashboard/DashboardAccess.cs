using System.Net;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;

namespace SqliteBackplane.Dashboard;

/// <summary>
/// Who may see the dashboard. With an authorization policy on its endpoints (<c>RequireAuthorization</c>), the
/// authorization middleware has already decided, so anyone it let through. Without one, only local requests, as
/// Hangfire's dashboard does: from a loopback address or from this machine's own address, and not forwarded by a proxy
/// (a reverse proxy on the same machine makes every visitor look local; its X-Forwarded-For or Forwarded header gives it away).
/// </summary>
internal static class DashboardAccess
{
    public static bool IsAllowed(HttpContext context)
    {
        var metadata = context.GetEndpoint()?.Metadata;
        if (metadata?.GetOrderedMetadata<IAuthorizeData>() is { Count: > 0 } && metadata.GetMetadata<IAllowAnonymous>() is null)
        {
            return true;
        }

        var connection = context.Connection;
        if (connection.RemoteIpAddress is not { } remote || context.Request.Headers.ContainsKey("X-Forwarded-For") || context.Request.Headers.ContainsKey("Forwarded"))
        {
            return false;
        }

        return IPAddress.IsLoopback(remote) || connection.LocalIpAddress is { } local && remote.Equals(local);
    }

    public const string RefusedMessage =
        "The SQLite backplane dashboard answers only local requests. Open it from this machine, or let others in through an " +
        "authorization policy: app.MapSqliteBackplaneDashboard(\"/backplane\").RequireAuthorization(\"<policy>\").";
}

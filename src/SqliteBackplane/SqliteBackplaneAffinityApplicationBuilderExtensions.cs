using SqliteBackplane.Internal.Hosting;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Session affinity for SignalR behind a front door (nginx, YARP) that runs several processes on one address.</summary>
public static class SqliteBackplaneAffinityApplicationBuilderExtensions
{
    /// <summary>The cookie <see cref="UseSqliteBackplaneAffinity"/> sets. Letters and an underscore only, so nginx reads it as <c>$cookie_sqlitebackplane_route</c>.</summary>
    public const string CookieName = "sqlitebackplane_route";

    private const int MaxRouteKeyLength = 64;

    /// <summary>
    /// Sets the cookie <see cref="CookieName"/> to <paramref name="routeKey"/> on every SignalR negotiate response this
    /// process answers. A front door that maps the cookie to this process then keeps the connection's later requests
    /// (WebSocket, Server-Sent Events, long polls and sends) here, for clients that share one IP address too; the
    /// browser, the .NET client (<c>HttpConnectionOptions.Cookies</c>) and the Node client keep the cookie on their own.
    /// Call it before <c>MapHub</c>. See docs/deployment.md for the nginx and YARP configurations.
    /// </summary>
    /// <param name="app">The application builder.</param>
    /// <param name="routeKey">This process's name at the front door, for example <c>p1</c>: 1 to 64 letters, digits, '-' or '_'.</param>
    /// <returns>The same builder, for chaining.</returns>
    public static IApplicationBuilder UseSqliteBackplaneAffinity(this IApplicationBuilder app, string routeKey)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(routeKey);
        if (routeKey.Length is 0 or > MaxRouteKeyLength || !routeKey.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            throw new ArgumentException(
                $"The route key '{routeKey}' cannot be a cookie value the front door maps to a process. Use 1 to {MaxRouteKeyLength} ASCII letters, digits, '-' or '_', for example \"p1\".",
                nameof(routeKey));
        }

        return app.UseMiddleware<AffinityCookieMiddleware>(CookieName, routeKey);
    }
}

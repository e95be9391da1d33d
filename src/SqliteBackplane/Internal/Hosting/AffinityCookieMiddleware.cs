using Microsoft.AspNetCore.Http;

namespace SqliteBackplane.Internal.Hosting;

/// <summary>
/// Names this process in a cookie on every SignalR negotiate response, so a front door can send every later request
/// of that connection (the WebSocket, the Server-Sent Events stream, each long poll and send) to the same process,
/// whatever the client's IP address. See <c>UseSqliteBackplaneAffinity</c> and docs/deployment.md.
/// </summary>
internal sealed class AffinityCookieMiddleware
{
    private const string NegotiateSuffix = "/negotiate";

    private static readonly CookieOptions Cookie = new()
    {
        Path = "/",
        HttpOnly = true,
        SameSite = SameSiteMode.Lax,
        IsEssential = true,
    };

    private readonly RequestDelegate _next;
    private readonly string _cookieName;
    private readonly string _routeKey;

    public AffinityCookieMiddleware(RequestDelegate next, string cookieName, string routeKey)
    {
        _next = next;
        _cookieName = cookieName;
        _routeKey = routeKey;
    }

    public Task InvokeAsync(HttpContext context)
    {
        if (IsNegotiate(context.Request) && context.Request.Cookies[_cookieName] != _routeKey)
        {
            // Only a successful negotiate names this process; a refused one (503 while stopping) must not.
            context.Response.OnStarting(static state =>
            {
                var (self, http) = ((AffinityCookieMiddleware, HttpContext))state;
                if (http.Response.StatusCode == StatusCodes.Status200OK)
                {
                    http.Response.Cookies.Append(self._cookieName, self._routeKey, Cookie);
                }
                return Task.CompletedTask;
            }, (this, context));
        }

        return _next(context);
    }

    private static bool IsNegotiate(HttpRequest request) =>
        HttpMethods.IsPost(request.Method) && request.Path.Value is { } path && path.EndsWith(NegotiateSuffix, StringComparison.OrdinalIgnoreCase);
}

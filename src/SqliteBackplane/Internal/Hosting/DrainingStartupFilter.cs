using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace SqliteBackplane.Internal.Hosting;

/// <summary>
/// First in the app's pipeline (an <see cref="IStartupFilter"/> that <c>AddSqliteBackplane</c> registers): once the
/// process is <see cref="BackplaneDraining.IsDraining"/>, every new request (a negotiate, a WebSocket, a resume, a
/// poll, the health endpoint) is answered 503 with <c>Connection: close</c>, so a front door sends it to another
/// process (nginx: <c>proxy_next_upstream http_503</c>; YARP: the failed health probe) and Kestrel's stop never waits for a
/// connection that arrived while it was stopping. Requests already running are untouched.
/// </summary>
internal sealed class DrainingStartupFilter(BackplaneDraining draining) : IStartupFilter
{
    /// <summary>How long a refused client is asked to wait before it tries this address again.</summary>
    internal const string RetryAfterSeconds = "1";

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use(async (context, nextMiddleware) =>
        {
            if (!draining.IsDraining)
            {
                await nextMiddleware(context);
                return;
            }

            draining.CountRefused();
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.Headers[HeaderNames.RetryAfter] = RetryAfterSeconds;
            context.Response.Headers[HeaderNames.Connection] = "close";
        });
        next(app);
    };
}

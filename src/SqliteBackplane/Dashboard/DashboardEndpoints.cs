using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane.Dashboard;

/// <summary>
/// The dashboard's endpoints, all GET: the page (<c>{pattern}/</c>), its files (<c>{pattern}/assets/{file}</c>), the
/// event stream (<c>{pattern}/events</c>) and the group search (<c>{pattern}/groups?hub=&amp;q=</c>). Each checks
/// <see cref="DashboardAccess"/> first.
/// </summary>
internal static class DashboardEndpoints
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();

    public static IEndpointConventionBuilder Map(IEndpointRouteBuilder endpoints, string pattern, DashboardFeed feed, ILogger logger)
    {
        var group = endpoints.MapGroup(pattern);
        group.WithDisplayName("SqliteBackplane dashboard");

        // Routing matches with or without the trailing slash; the page's relative links need it.
        group.MapGet("/", (HttpContext context) => Guard(context, logger)
            ?? (context.Request.Path.Value?.EndsWith('/') == true ? Serve(context, "index.html") : Results.Redirect(context.Request.PathBase + context.Request.Path + "/")));
        group.MapGet("/assets/{file}", (HttpContext context, string file) => Guard(context, logger) ?? Serve(context, file));
        group.MapGet("/groups", async (HttpContext context, string hub, string? q) =>
        {
            if (Guard(context, logger) is { } refused)
            {
                return refused;
            }

            var groups = await feed.SearchGroupsAsync(hub, q, context.RequestAborted);
            return Results.Text(JsonSerializer.Serialize(groups, DashboardJson.Default.ListDashboardGroup), "application/json", Encoding.UTF8);
        });
        group.MapGet("/events", async (HttpContext context) =>
        {
            if (Guard(context, logger) is { } refused)
            {
                await refused.ExecuteAsync(context);
                return;
            }

            await StreamAsync(context, feed);
        });
        return group;
    }

    private static IResult? Guard(HttpContext context, ILogger logger)
    {
        if (DashboardAccess.IsAllowed(context))
        {
            return null;
        }

        BackplaneEvents.DashboardRequestRefused(logger, context.Connection.RemoteIpAddress?.ToString() ?? "(unknown)");
        return Results.Text(DashboardAccess.RefusedMessage, "text/plain", Encoding.UTF8, StatusCodes.Status403Forbidden);
    }

    private static IResult Serve(HttpContext context, string file)
    {
        if (DashboardAssets.Find(file) is not { } asset)
        {
            return Results.NotFound();
        }

        var headers = context.Response.Headers;
        headers.ETag = asset.ETag;
        headers.CacheControl = "no-cache";
        headers.XContentTypeOptions = "nosniff";
        headers.ContentSecurityPolicy = "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'";
        if (context.Request.Headers.IfNoneMatch == asset.ETag)
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }

        return Results.Bytes(asset.Content, asset.ContentType);
    }

    // Server-Sent Events: one JSON snapshot per second while the page is open; the page's EventSource reconnects by itself.
    private static async Task StreamAsync(HttpContext context, DashboardFeed feed)
    {
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await response.WriteAsync("retry: 2000\n\n", context.RequestAborted);
        await response.Body.FlushAsync(context.RequestAborted);

        using var page = feed.Connect();
        try
        {
            await foreach (var snapshot in page.Reader.ReadAllAsync(context.RequestAborted))
            {
                await response.Body.WriteAsync(DataPrefix, context.RequestAborted);
                await response.Body.WriteAsync(snapshot, context.RequestAborted);
                await response.Body.WriteAsync(EventEnd, context.RequestAborted);
                await response.Body.FlushAsync(context.RequestAborted);
            }
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The page closed.
        }
        catch (IOException)
        {
            // The connection broke.
        }
    }
}

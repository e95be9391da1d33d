using System.Net;
using Microsoft.AspNetCore.TestHost;
using SqliteBackplane.Tests.Infrastructure;
using Xunit;

namespace SqliteBackplane.Tests.Dashboard;

/// <summary>
/// Who may open the dashboard, and that it can only read: a request from another machine is refused unless the app
/// named an authorization policy, and every endpoint answers GET alone.
/// </summary>
public sealed class DashboardAccessTests
{
    private static readonly IPAddress Remote = IPAddress.Parse("203.0.113.7");
    private static readonly IPAddress ServerAddress = IPAddress.Parse("192.0.2.10");

    [Fact]
    public async Task A_request_from_another_machine_is_refused_by_default_and_says_how_to_allow_it()
    {
        await using var app = await DashboardApp.StartAsync(kestrel: false);

        foreach (var path in new[] { "/backplane/", "/backplane/assets/dashboard.js", "/backplane/events", "/backplane/groups?hub=x" })
        {
            var response = await SendAsync(app, path, Remote);
            Assert.Equal(StatusCodes.Status403Forbidden, response.Response.StatusCode);
            var body = await new StreamReader(response.Response.Body).ReadToEndAsync();
            Assert.Contains("answers only local requests", body, StringComparison.Ordinal);
            Assert.Contains("RequireAuthorization", body, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_local_request_is_served_the_page_from_the_assembly()
    {
        await using var app = await DashboardApp.StartAsync(kestrel: false);

        var page = await SendAsync(app, "/backplane/", IPAddress.Loopback);
        Assert.Equal(StatusCodes.Status200OK, page.Response.StatusCode);
        Assert.Contains("<title>SQLite backplane</title>", await new StreamReader(page.Response.Body).ReadToEndAsync(), StringComparison.Ordinal);

        var script = await SendAsync(app, "/backplane/assets/dashboard.js", IPAddress.IPv6Loopback);
        Assert.Equal(StatusCodes.Status200OK, script.Response.StatusCode);
        Assert.StartsWith("text/javascript", script.Response.ContentType, StringComparison.Ordinal);

        // This machine's own address counts as local (a browser on the server opening its public name).
        var own = await SendAsync(app, "/backplane/", ServerAddress, local: ServerAddress);
        Assert.Equal(StatusCodes.Status200OK, own.Response.StatusCode);

        var redirect = await SendAsync(app, "/backplane", IPAddress.Loopback);
        Assert.Equal(StatusCodes.Status302Found, redirect.Response.StatusCode);
        Assert.Equal("/backplane/", redirect.Response.Headers.Location.ToString());
    }

    [Fact]
    public async Task A_request_forwarded_by_a_proxy_on_this_machine_is_not_local()
    {
        await using var app = await DashboardApp.StartAsync(kestrel: false);

        var response = await SendAsync(app, "/backplane/", IPAddress.Loopback, forwardedFor: "203.0.113.7");

        Assert.Equal(StatusCodes.Status403Forbidden, response.Response.StatusCode);
    }

    [Fact]
    public async Task With_an_authorization_policy_a_remote_user_it_admits_is_served_and_one_it_does_not_is_challenged()
    {
        await using var app = await DashboardApp.StartAsync(kestrel: false, policy: true);

        var admitted = await SendAsync(app, "/backplane/", Remote, user: "ops-alice");
        Assert.Equal(StatusCodes.Status200OK, admitted.Response.StatusCode);

        var anonymous = await SendAsync(app, "/backplane/", Remote);
        Assert.Equal(StatusCodes.Status401Unauthorized, anonymous.Response.StatusCode);

        // The policy replaces the local-only rule: even a local request must satisfy it.
        var local = await SendAsync(app, "/backplane/", IPAddress.Loopback);
        Assert.Equal(StatusCodes.Status401Unauthorized, local.Response.StatusCode);
    }

    [Fact]
    public async Task Every_dashboard_endpoint_answers_GET_only()
    {
        await using var app = await DashboardApp.StartAsync(kestrel: false);

        var endpoints = app.App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText?.StartsWith("/backplane", StringComparison.Ordinal) == true)
            .ToList();
        Assert.Equal(["/backplane/", "/backplane/assets/{file}", "/backplane/events", "/backplane/groups"], endpoints.Select(e => e.RoutePattern.RawText!).Order(StringComparer.Ordinal));
        foreach (var endpoint in endpoints)
        {
            Assert.Equal(["GET"], endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? []);
        }

        foreach (var method in new[] { "POST", "PUT", "DELETE", "PATCH" })
        {
            foreach (var path in new[] { "/backplane/", "/backplane/events", "/backplane/groups", "/backplane/assets/dashboard.js" })
            {
                var response = await SendAsync(app, path, IPAddress.Loopback, method: method);
                Assert.Equal(StatusCodes.Status405MethodNotAllowed, response.Response.StatusCode);
            }
        }
    }

    private static Task<HttpContext> SendAsync(DashboardApp app, string pathAndQuery, IPAddress remote, IPAddress? local = null,
        string? forwardedFor = null, string? user = null, string method = "GET") =>
        app.App.GetTestServer().SendAsync(context =>
        {
            var parts = pathAndQuery.Split('?', 2);
            context.Request.Method = method;
            context.Request.Path = parts[0];
            context.Request.QueryString = parts.Length > 1 ? new QueryString("?" + parts[1]) : QueryString.Empty;
            context.Connection.RemoteIpAddress = remote;
            context.Connection.LocalIpAddress = local ?? IPAddress.Loopback;
            if (forwardedFor is not null)
            {
                context.Request.Headers["X-Forwarded-For"] = forwardedFor;
            }

            if (user is not null)
            {
                context.Request.Headers[DashboardApp.UserHeader] = user;
            }
        }).DefaultTimeout();
}

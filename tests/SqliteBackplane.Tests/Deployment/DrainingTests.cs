using System.Net;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using SqliteBackplane.Tests.Infrastructure;
using Xunit;

namespace SqliteBackplane.Tests.Deployment;

/// <summary>
/// What an app behind a front door relies on, in one process: the affinity cookie on negotiate responses only, a clear
/// error for a route key no front door can map, and, from the moment the host begins to stop, 503 for every new request
/// and an Unhealthy health check.
/// </summary>
public sealed class DrainingTests
{
    [Theory]
    [InlineData("")]
    [InlineData("p 1")]
    [InlineData("p1;evil")]
    public void A_route_key_that_cannot_be_a_cookie_value_is_refused_with_what_to_use(string routeKey)
    {
        var app = WebApplication.CreateSlimBuilder().Build();

        var error = Assert.Throws<ArgumentException>(() => app.UseSqliteBackplaneAffinity(routeKey));

        Assert.Equal("routeKey", error.ParamName);
        Assert.Contains("Use 1 to 64 ASCII letters, digits, '-' or '_', for example \"p1\".", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Negotiate_responses_name_the_process_in_the_affinity_cookie_and_nothing_else_does()
    {
        await using var app = await StartAsync(database: null, app =>
        {
            app.UseSqliteBackplaneAffinity("p2");
            app.MapPost("/hubs/chat/negotiate", () => Results.Ok());
            app.MapPost("/hubs/chat", () => Results.Ok());
        });
        var http = app.GetTestClient();

        using var negotiate = await http.PostAsync("/hubs/chat/negotiate?negotiateVersion=1", null);
        using var send = await http.PostAsync("/hubs/chat?id=abc", null);

        Assert.Equal("sqlitebackplane_route=p2; path=/; samesite=lax; httponly", Assert.Single(negotiate.Headers.GetValues("Set-Cookie")));
        Assert.False(send.Headers.Contains("Set-Cookie"), "Only a negotiate response sets the affinity cookie.");
    }

    [Fact]
    public async Task From_the_moment_the_host_begins_to_stop_new_requests_get_503_and_the_health_check_fails()
    {
        using var database = new TempDatabase();
        await using var app = await StartAsync(database, app => app.MapHealthChecks("/health"));
        var http = app.GetTestClient();
        using (var before = await http.GetAsync("/health"))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        // ApplicationStopping, as SIGTERM fires it; the host itself is stopped by the test's disposal.
        app.Services.GetRequiredService<IHostApplicationLifetime>().StopApplication();

        using var refused = await http.GetAsync("/health");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal("1", Assert.Single(refused.Headers.GetValues("Retry-After")));
        var report = await app.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        Assert.Equal(HealthStatus.Unhealthy, report.Status);
        Assert.StartsWith("This process is stopping", report.Entries[SqliteBackplaneHealthCheckBuilderExtensions.DefaultName].Description, StringComparison.Ordinal);
    }

    private static async Task<WebApplication> StartAsync(TempDatabase? database, Action<WebApplication> configure)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Logging.ClearProviders();
        if (database is not null)
        {
            builder.Services.AddSignalR().AddSqliteBackplane($"Data Source={database.Path}");
            builder.Services.AddHealthChecks().AddSqliteBackplane();
        }
        builder.Services.AddRouting();
        var app = builder.Build();
        configure(app);
        await app.StartAsync();
        return app;
    }
}

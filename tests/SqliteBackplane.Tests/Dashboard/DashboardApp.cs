using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Options;
using SqliteBackplane.TestServer;
using SqliteBackplane.Tests.Infrastructure;

namespace SqliteBackplane.Tests.Dashboard;

/// <summary>
/// An app with the backplane on a temporary file, <see cref="TestHub"/> and the dashboard at <c>/backplane</c>: on Kestrel
/// at 127.0.0.1 (a real loopback connection) or on the in-memory test server (whose requests carry whatever remote
/// address the test gives them, as a connection from that address would).
/// </summary>
internal sealed class DashboardApp : IAsyncDisposable
{
    public const string Policy = "backplane-operators";
    public const string UserHeader = "X-Test-Operator";

    private DashboardApp(WebApplication app, TempDatabase database)
    {
        App = app;
        Database = database;
    }

    public WebApplication App { get; }

    public TempDatabase Database { get; }

    public Uri Address => TestServerApp.GetListeningAddress(App);

    public static async Task<DashboardApp> StartAsync(bool kestrel, bool showPayloads = false, bool policy = false)
    {
        var database = new TempDatabase();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (kestrel)
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
        }
        else
        {
            builder.WebHost.UseTestServer();
        }

        builder.Services.AddSignalR().AddSqliteBackplane(options =>
        {
            options.ConnectionString = database.ConnectionString;
            options.HeartbeatInterval = TimeSpan.FromMilliseconds(250);
            options.NodeTimeout = TimeSpan.FromSeconds(5);
        });
        if (policy)
        {
            builder.Services.AddAuthentication("test").AddScheme<AuthenticationSchemeOptions, HeaderAuthentication>("test", null);
            builder.Services.AddAuthorization(o => o.AddPolicy(Policy, p => p.RequireAuthenticatedUser()));
        }

        var app = builder.Build();
        if (policy)
        {
            app.UseAuthentication();
            app.UseAuthorization();
        }

        app.MapHub<TestHub>(HubPaths.Test);
        var dashboard = app.MapSqliteBackplaneDashboard("/backplane", o => o.ShowPayloads = showPayloads);
        if (policy)
        {
            dashboard.RequireAuthorization(Policy);
        }

        await app.StartAsync().DefaultTimeout();
        return new DashboardApp(app, database);
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync().DefaultTimeout();
        await App.DisposeAsync();
        Database.Dispose();
    }

    /// <summary>Authenticates a request that carries <see cref="UserHeader"/>; the test's stand-in for a real sign-in.</summary>
    private sealed class HeaderAuthentication(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        protected override Task<AuthenticateResult> HandleAuthenticateAsync() =>
            Task.FromResult(Request.Headers.TryGetValue(UserHeader, out var user)
                ? AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, user.ToString())], "test")), "test"))
                : AuthenticateResult.NoResult());
    }
}

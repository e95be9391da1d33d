using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SqliteBackplane;
using SqliteBackplane.Dashboard;
using SqliteBackplane.Internal.Node;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the SQLite backplane's live dashboard.</summary>
public static class SqliteBackplaneDashboardEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps a read-only live dashboard of the backplane at <paramref name="pattern"/>: its nodes, hubs, log, resume attempts,
    /// a tail of the newest rows and presence changes, pushed to the page every second as Server-Sent Events. The page and
    /// its scripts are served from this assembly (no CDN, no build step). Nothing runs until a page is open.
    /// </summary>
    /// <remarks>
    /// By default only local requests are answered (from a loopback address, or from this machine's own address, and not
    /// forwarded by a proxy); any other gets 403. To open it to others, name an authorization policy on the returned
    /// builder: <c>app.MapSqliteBackplaneDashboard("/backplane").RequireAuthorization("ops")</c>, which then replaces the
    /// local-only rule. Every endpoint answers GET only; none writes or deletes. Needs <c>AddSqliteBackplane</c>.
    /// </remarks>
    /// <param name="endpoints">The app's endpoint route builder.</param>
    /// <param name="pattern">Where the page lives, for example <c>/backplane</c>.</param>
    /// <param name="configure">Sets <see cref="SqliteBackplaneDashboardOptions"/>, for example to show payloads in the tail.</param>
    /// <returns>A builder for the dashboard's endpoints, to add authorization or other conventions.</returns>
    public static IEndpointConventionBuilder MapSqliteBackplaneDashboard(this IEndpointRouteBuilder endpoints, string pattern = "/backplane",
        Action<SqliteBackplaneDashboardOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrWhiteSpace(pattern);
        var options = endpoints.ServiceProvider.GetService<IOptions<SqliteBackplaneOptions>>();
        if (options is null || endpoints.ServiceProvider.GetService<IServiceProviderIsService>()?.IsService(typeof(AppBackplaneNode)) != true)
        {
            throw new InvalidOperationException(
                "MapSqliteBackplaneDashboard needs the SQLite backplane's services. Register them first: builder.Services.AddSignalR().AddSqliteBackplane(\"Data Source=signalr.db\").");
        }

        var dashboardOptions = new SqliteBackplaneDashboardOptions();
        configure?.Invoke(dashboardOptions);
        var loggerFactory = endpoints.ServiceProvider.GetRequiredService<ILoggerFactory>();
        var feed = new DashboardFeed(options, loggerFactory, dashboardOptions);
        return DashboardEndpoints.Map(endpoints, pattern.TrimEnd('/'), feed, loggerFactory.CreateLogger("SqliteBackplane.Dashboard"));
    }
}

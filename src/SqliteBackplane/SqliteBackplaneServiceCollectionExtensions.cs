using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using SqliteBackplane;
using SqliteBackplane.Internal.Node;
using SqliteBackplane.Maintenance;
using SqliteBackplane.Internal.Configuration;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Extension methods that make every process pointing at one SQLite file act as one SignalR server.
/// </summary>
public static class SqliteBackplaneServiceCollectionExtensions
{
    /// <summary>
    /// Adds the SQLite backplane with the default options (a file named <c>signalr-backplane.db</c> in the host's content root).
    /// </summary>
    /// <param name="signalrBuilder">The SignalR server builder.</param>
    /// <returns>The same builder, for chaining.</returns>
    public static ISignalRServerBuilder AddSqliteBackplane(this ISignalRServerBuilder signalrBuilder)
        => AddSqliteBackplane(signalrBuilder, _ => { });

    /// <summary>
    /// Adds the SQLite backplane on the database that <paramref name="connectionString"/> names.
    /// </summary>
    /// <param name="signalrBuilder">The SignalR server builder.</param>
    /// <param name="connectionString">
    /// A Microsoft.Data.Sqlite connection string, for example <c>Data Source=signalr.db</c>. In a host, a relative path is
    /// resolved against the content root (<see cref="IHostEnvironment.ContentRootPath"/>).
    /// </param>
    /// <returns>The same builder, for chaining.</returns>
    public static ISignalRServerBuilder AddSqliteBackplane(this ISignalRServerBuilder signalrBuilder, string connectionString)
        => AddSqliteBackplane(signalrBuilder, connectionString, _ => { });

    /// <summary>
    /// Adds the SQLite backplane configured by <paramref name="configure"/>.
    /// </summary>
    /// <param name="signalrBuilder">The SignalR server builder.</param>
    /// <param name="configure">Configures the <see cref="SqliteBackplaneOptions"/>.</param>
    /// <returns>The same builder, for chaining.</returns>
    public static ISignalRServerBuilder AddSqliteBackplane(this ISignalRServerBuilder signalrBuilder, Action<SqliteBackplaneOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(signalrBuilder);
        ArgumentNullException.ThrowIfNull(configure);

        var services = signalrBuilder.Services;
        services.AddOptions<SqliteBackplaneOptions>().Configure(configure).ValidateOnStart()
            // The node belongs to the app: a singleton of this container, with the app's logger and meter factories.
            // The options carry it to everything built from them, the public manager constructors included.
            .PostConfigure<AppBackplaneNode>(static (options, node) => options.AppNode = node);
        services.TryAddSingleton<AppBackplaneNode>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SqliteBackplaneOptions>, SqliteBackplaneOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<SqliteBackplaneOptions>, ContentRootDataSource>(
            provider => new ContentRootDataSource(provider.GetService<IHostEnvironment>())));
        services.AddSingleton(typeof(HubLifetimeManager<>), typeof(SqliteHubLifetimeManager<>));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, SqliteBackplaneHostedService>());
        // A stopping process refuses new requests with 503 (a front door retries them elsewhere) and fails its health check.
        services.TryAddSingleton<SqliteBackplane.Internal.Hosting.BackplaneDraining>();
        services.TryAddEnumerable(ServiceDescriptor.Transient<Microsoft.AspNetCore.Hosting.IStartupFilter, SqliteBackplane.Internal.Hosting.DrainingStartupFilter>());
        services.TryAddSingleton(typeof(ISqliteBackplanePresence<>), typeof(SqliteBackplane.Presence.SqliteBackplanePresence<>));
        services.TryAddSingleton<SqliteBackplaneMaintenance>();
        return signalrBuilder;
    }

    /// <summary>
    /// Adds the SQLite backplane on the database that <paramref name="connectionString"/> names, with further options.
    /// </summary>
    /// <param name="signalrBuilder">The SignalR server builder.</param>
    /// <param name="connectionString">
    /// A Microsoft.Data.Sqlite connection string, for example <c>Data Source=signalr.db</c>. In a host, a relative path is
    /// resolved against the content root (<see cref="IHostEnvironment.ContentRootPath"/>).
    /// </param>
    /// <param name="configure">Configures the other <see cref="SqliteBackplaneOptions"/>; it runs after the connection string is set.</param>
    /// <returns>The same builder, for chaining.</returns>
    public static ISignalRServerBuilder AddSqliteBackplane(this ISignalRServerBuilder signalrBuilder, string connectionString, Action<SqliteBackplaneOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        ArgumentNullException.ThrowIfNull(configure);
        return AddSqliteBackplane(signalrBuilder, options =>
        {
            options.ConnectionString = connectionString;
            configure(options);
        });
    }
}

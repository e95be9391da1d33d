using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SqliteBackplane;
using SqliteBackplane.Health;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the SQLite backplane's health check.</summary>
public static class SqliteBackplaneHealthCheckBuilderExtensions
{
    /// <summary>The health check's default registration name.</summary>
    public const string DefaultName = "sqlite-backplane";

    /// <summary>
    /// Adds a health check for the SQLite backplane configured by <c>AddSqliteBackplane(..)</c>. It reports Healthy
    /// when the database file is writable and this process's reader is current; Degraded when the reader is more than
    /// <paramref name="maxReaderLag"/> behind the log or another process's heartbeat is late; and
    /// <paramref name="failureStatus"/> (Unhealthy by default) when the database cannot be written; Unhealthy from the
    /// moment the process begins to stop, so a front door's active health check takes it out at once. The description
    /// says why.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">The registration name. Defaults to <see cref="DefaultName"/>.</param>
    /// <param name="failureStatus">The status reported when the database cannot be written. Defaults to Unhealthy.</param>
    /// <param name="tags">Tags for filtering checks, for example in a readiness endpoint.</param>
    /// <param name="maxReaderLag">How far behind the log the reader may be before the check reports Degraded. Defaults to 5 seconds.</param>
    /// <returns>The same builder, for chaining.</returns>
    public static IHealthChecksBuilder AddSqliteBackplane(this IHealthChecksBuilder builder, string name = DefaultName,
        HealthStatus? failureStatus = null, IEnumerable<string>? tags = null, TimeSpan? maxReaderLag = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(name);
        var lag = maxReaderLag ?? TimeSpan.FromSeconds(5);
        if (lag <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(maxReaderLag), lag, "The maximum reader lag must be positive, for example TimeSpan.FromSeconds(5).");
        }

        // One check instance per registration, disposed with the container, so it holds the shared node for the app's lifetime
        // (without AddSqliteBackplane on the SignalR builder, a node of its own options, released with the container).
        builder.Services.AddSingleton(services => new HealthCheckHolder(name, new SqliteBackplaneHealthCheck(
            services.GetRequiredService<IOptions<SqliteBackplaneOptions>>(), services.GetRequiredService<ILoggerFactory>(), lag,
            services.GetService<SqliteBackplane.Internal.Hosting.BackplaneDraining>())));
        return builder.Add(new HealthCheckRegistration(name,
            services => services.GetServices<HealthCheckHolder>().First(h => h.Name == name).Check,
            failureStatus, tags));
    }

    private sealed class HealthCheckHolder(string name, SqliteBackplaneHealthCheck check) : IDisposable, IAsyncDisposable
    {
        public string Name { get; } = name;

        public SqliteBackplaneHealthCheck Check { get; } = check;

        public void Dispose() => Check.Dispose();

        public ValueTask DisposeAsync() => Check.DisposeAsync();
    }
}

using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Connections.Client;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SqliteBackplane.Client;

namespace Microsoft.AspNetCore.SignalR.Client;

/// <summary>Adds SqliteBackplane's resume to a <see cref="HubConnection"/>.</summary>
public static class SqliteBackplaneResumeHubConnectionBuilderExtensions
{
    /// <summary>
    /// Makes the connection resumable on a server with <c>SqliteBackplaneOptions.EnableResume</c>: after a drop, the
    /// reconnect (automatic, or a manual <c>StartAsync</c> on the same connection object), to any process on the
    /// backplane file, first receives every message the old connection missed, exactly once and in order, and keeps its
    /// groups; the handlers receive them like live ones. When that is impossible, <see cref="SqliteBackplaneResumeOptions.OnGap"/>
    /// runs. Works with every protocol and transport; the order of the builder calls does not matter. See docs/resume.md.
    /// </summary>
    /// <param name="builder">The connection builder.</param>
    /// <param name="configure">Sets the options, such as the gap callback.</param>
    /// <returns>The builder.</returns>
    public static IHubConnectionBuilder WithSqliteBackplaneResume(this IHubConnectionBuilder builder, Action<SqliteBackplaneResumeOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = new SqliteBackplaneResumeOptions();
        configure?.Invoke(options);

        // The connection is built with the protocol and factory wrapped, whatever was registered before or after this call.
        builder.Services.Replace(ServiceDescriptor.Singleton(services =>
        {
            var state = new ResumeState();
            var factory = new ResumeConnectionFactory(services.GetRequiredService<IConnectionFactory>(), state,
                services.GetService<IOptions<HttpConnectionOptions>>()?.Value);
            var protocol = new ResumeHubProtocol(services.GetRequiredService<IHubProtocol>(), state, options);
            var endpoint = services.GetRequiredService<EndPoint>();
            var loggerFactory = services.GetRequiredService<ILoggerFactory>();
            var connection = services.GetService<IRetryPolicy>() is { } retry
                ? new HubConnection(factory, protocol, endpoint, services, loggerFactory, retry)
                : new HubConnection(factory, protocol, endpoint, services, loggerFactory);
            // The protocol has read them already; these handlers only take them, so the app's never see them.
            foreach (var (method, parameters) in ResumeHubProtocol.ReservedMethods)
            {
                connection.On(method, parameters, static _ => Task.CompletedTask);
            }

            return connection;
        }));
        return builder;
    }
}

using System.Diagnostics;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace SqliteBackplane.TestServer;

/// <summary>
/// Builds the test server. The executable (Program.cs) and the in-process test topologies share this code,
/// so every topology runs the very same hubs and SignalR configuration.
/// </summary>
public static class TestServerApp
{
    /// <summary>The line prefix the server prints on stdout once it accepts connections.</summary>
    public const string ListeningPrefix = "LISTENING ";

    /// <summary>Where the executable maps the backplane dashboard.</summary>
    public const string DashboardPath = "/backplane";

    /// <summary>Where a server started with a route key serves its health check.</summary>
    public const string HealthPath = "/health";

    /// <summary>
    /// Registers SignalR (Newtonsoft JSON, MessagePack unless disabled, and a custom protocol), the user-id provider
    /// and, unless disabled, the backplane: SQLite, or Microsoft's Redis backplane when
    /// <see cref="TestServerSettings.RedisConfiguration"/> is set.
    /// </summary>
    public static void Configure(WebApplicationBuilder builder, TestServerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ConfigureServices(builder.Services, settings);
    }

    /// <summary>The services of <see cref="Configure"/>, for any host (the send-only worker has no web server).</summary>
    public static void ConfigureServices(IServiceCollection services, TestServerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(settings);

        services.AddSingleton<IUserIdProvider, QueryStringUserIdProvider>();
        var signalR = services
            .AddSignalR(options =>
            {
                // A hub method that awaits a client result of its own caller needs a second invocation slot.
                options.MaximumParallelInvocationsPerClient = 4;
            })
            .AddNewtonsoftJsonProtocol();
        // Newtonsoft takes over the name "json"; a custom protocol puts a second protocol in use on every server.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHubProtocol, PrefixedJsonHubProtocol>());
        if (settings.MessagePack)
        {
            signalR.AddMessagePackProtocol();
        }
        if (settings.UseBackplane && settings.RedisConfiguration is { } redis)
        {
            // The table prefix becomes the channel prefix, so two prefixes are two applications here too.
            signalR.AddStackExchangeRedis(redis, options => options.Configuration.ChannelPrefix = StackExchange.Redis.RedisChannel.Literal(settings.TablePrefix));
        }
        else if (settings.UseBackplane)
        {
            signalR.AddSqliteBackplane(options =>
            {
                options.ConnectionString = settings.ConnectionString;
                options.TablePrefix = settings.TablePrefix;
                options.HeartbeatInterval = settings.HeartbeatInterval;
                options.NodeTimeout = settings.NodeTimeout;
                options.RunCheckpoints = settings.RunCheckpoints;
                options.EnableResume = settings.EnableResume;
                options.ResumeWindow = settings.ResumeWindow;
                options.MaxLogRows = settings.MaxLogRows ?? options.MaxLogRows;
                options.MaxPendingMessagesPerConnection = settings.MaxPendingMessagesPerConnection ?? options.MaxPendingMessagesPerConnection;
                options.MaxWalSize = settings.MaxWalSize ?? options.MaxWalSize;
                foreach (var key in settings.EncryptionKeys)
                {
                    options.EncryptionKeys.Add(key);
                }
            });
        }
    }

    /// <summary>Makes Kestrel listen on 127.0.0.1 at <see cref="TestServerSettings.Port"/> (0 picks a free port).</summary>
    public static void ListenOnLoopback(WebApplicationBuilder builder, TestServerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(settings);
        builder.WebHost.UseUrls($"http://127.0.0.1:{settings.Port}");
    }

    /// <summary>
    /// Maps <see cref="TestHub"/> and <see cref="OtherHub"/>. <see cref="TestHub"/> allows stateful reconnects (used only by
    /// clients that ask for them: the stateful-reconnect tests with the .NET and Node clients).
    /// </summary>
    public static void MapHubs(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseWebSockets();
        app.MapHub<TestHub>(HubPaths.Test, options => options.AllowStatefulReconnects = true);
        app.MapHub<OtherHub>(HubPaths.Other);
    }

    /// <summary>The first address the started server listens on, for example <c>http://127.0.0.1:41234</c>.</summary>
    public static Uri GetListeningAddress(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
        var address = addresses?.FirstOrDefault()
            ?? throw new InvalidOperationException("The server started without any listening address.");
        return new Uri(address);
    }

    /// <summary>Runs the executable: starts, prints the listening line, and runs until stopped or the parent exits.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        TestServerSettings settings;
        try
        {
            settings = TestServerSettings.Parse(args);
        }
        catch (ArgumentException ex)
        {
            await Console.Error.WriteLineAsync(ex.Message);
            return 2;
        }

        if (settings.Sends.Count > 0)
        {
            return await SendOnlyWorker.RunAsync(settings);
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = settings.ContentRoot });
        ConfigureLogging(builder.Logging);
        ListenOnLoopback(builder, settings);
        Configure(builder, settings);
        if (settings.ShutdownTimeout is TimeSpan shutdownTimeout)
        {
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = shutdownTimeout);
        }
        if (settings.RouteKey is not null)
        {
            builder.Services.AddHealthChecks().AddSqliteBackplane();
        }

        await using var app = builder.Build();
        if (settings.RouteKey is { } routeKey)
        {
            // Behind a front door: the affinity cookie on negotiate, and the health endpoint its probes call.
            app.UseSqliteBackplaneAffinity(routeKey);
            app.MapHealthChecks(HealthPath);
        }
        MapHubs(app);
        var paced = settings.PacedSendRate is int rate
            ? PacedSender.Create(app.Services.GetRequiredService<IHubContext<TestHub>>().Clients, rate, settings.PacedSendUsers)
            : null;
        if (paced is not null)
        {
            app.MapPost(PacedSender.StopPath, paced.StopAsync);
        }
        if (settings.UseBackplane && settings.RedisConfiguration is null)
        {
            // The dashboard (local requests only): the dashboard browser test opens it on each process.
            app.MapSqliteBackplaneDashboard(DashboardPath);
        }
        try
        {
            await app.StartAsync();
        }
        catch (Exception)
        {
            // The host has logged why it could not start; printing the exception again would only repeat it.
            return 1;
        }
        Console.Out.WriteLine(ListeningPrefix + GetListeningAddress(app).ToString().TrimEnd('/'));
        Console.Out.Flush();
        paced?.Start(app.Lifetime);

        if (settings.ParentProcessId is int parentId)
        {
            _ = StopWhenProcessExitsAsync(parentId, app);
        }
        await app.WaitForShutdownAsync();
        return 0;
    }

    /// <summary>Logs to stderr (which the test harness captures), so stdout carries only the LISTENING line.</summary>
    internal static void ConfigureLogging(ILoggingBuilder logging)
    {
        logging.ClearProviders();
        logging.AddSimpleConsole(o => o.SingleLine = true);
        logging.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        logging.SetMinimumLevel(LogLevel.Warning);
        logging.AddFilter("SqliteBackplane", LogLevel.Information);
    }

    private static async Task StopWhenProcessExitsAsync(int processId, WebApplication app)
    {
        try
        {
            using var parent = Process.GetProcessById(processId);
            await parent.WaitForExitAsync();
        }
        catch (ArgumentException)
        {
            // The parent is already gone.
        }
        await app.StopAsync();
    }
}

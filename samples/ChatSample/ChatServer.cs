using ChatSample.Hubs;
using ChatSample.Identity;
using ChatSample.Launcher;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Data.Sqlite;

namespace ChatSample;

/// <summary>
/// One chat server process: the page, <c>GET /api/instance</c>, <c>GET /health</c> and the hub at <c>/hubs/chat</c>, on the
/// shared SQLite backplane. The launcher's front door (YARP) sends each browser to one instance and, when that one
/// stops or dies, to another: the page keeps one URL.
/// </summary>
public static class ChatServer
{
    public const string HubPath = "/hubs/chat";

    /// <summary>The health endpoint the front door probes; it fails the moment this process begins to stop.</summary>
    public const string HealthPath = "/health";

    public static async Task RunAsync(ChatSampleCommandLine commandLine)
    {
        var instance = commandLine.ServerInstance;
        var port = commandLine.PortFor(instance);
        var server = new ServerInstance(instance, port, Environment.ProcessId, Environment.MachineName, commandLine.DatabasePath);

        // Content (the page) is read from the output folder, so the working directory only decides where the database goes.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = [.. commandLine.OtherArguments],
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");

        builder.Services.AddSingleton(server);
        builder.Services.AddSingleton<IUserIdProvider, QueryStringUserIdProvider>();
        builder.Services.AddHostedService<PresenceForwarder>();
        builder.Services.AddHealthChecks().AddSqliteBackplane();
        builder.Services.AddSignalR()
            .AddMessagePackProtocol()
            // EnableResume: a page that reconnects (to any instance, even after one was killed) first gets every
            // message it missed, exactly once, in order; the page opts in with the npm resume helper (wwwroot/js/app.js).
            .AddSqliteBackplane(new SqliteConnectionStringBuilder { DataSource = commandLine.DatabasePath }.ToString(),
                options => options.EnableResume = true);

        if (commandLine.ParentProcessId is int parentProcessId)
        {
            builder.Services.AddHostedService(services => ActivatorUtilities.CreateInstance<ParentProcessWatcher>(services, parentProcessId));
        }

        var app = builder.Build();
        // Behind nginx (docs/deployment/nginx.conf) this cookie keeps a connection's requests on this process; YARP,
        // the launcher's front door, uses its own cookie instead.
        app.UseSqliteBackplaneAffinity($"p{instance}");
        app.UseDefaultFiles();
        app.UseStaticFiles();
        app.MapGet("/api/instance", (ServerInstance self) => self);
        app.MapHealthChecks(HealthPath);
        app.MapHub<ChatHub>(HubPath, options => options.AllowStatefulReconnects = true);
        app.MapSqliteBackplaneDashboard("/backplane"); // the backplane's live dashboard, local requests only

        app.Logger.LogInformation("Chat instance {Instance} (process {ProcessId}) serves http://127.0.0.1:{Port} on {Database}.",
            instance, server.ProcessId, port, server.Database);
        await app.RunAsync();
    }
}

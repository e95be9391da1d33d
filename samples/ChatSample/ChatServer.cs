using ChatSample.Hubs;
using ChatSample.Identity;
using ChatSample.Launcher;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Data.Sqlite;

namespace ChatSample;

/// <summary>
/// One chat server process: the page, <c>GET /api/instance</c> and the hub at <c>/hubs/chat</c>, on the shared SQLite backplane.
/// Pages served by the other instances of the same launcher may call it too (CORS for their loopback origins only), so
/// that a page whose instance died can reconnect here.
/// </summary>
public static class ChatServer
{
    public const string HubPath = "/hubs/chat";

    public static async Task RunAsync(ChatSampleCommandLine commandLine)
    {
        var instance = commandLine.ServerInstance;
        var port = commandLine.PortFor(instance);
        var instanceUrls = commandLine.PeerPorts.Prepend(port).Distinct().Select(ServerInstance.LoopbackUrl).ToList();
        var server = new ServerInstance(instance, port, Environment.ProcessId, Environment.MachineName, commandLine.DatabasePath, instanceUrls);

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
        builder.Services.AddCors(cors => cors.AddDefaultPolicy(policy => policy
            .WithOrigins([.. PeerOrigins(commandLine.PeerPorts, port)])
            .WithMethods("GET", "POST")
            .AllowAnyHeader()));
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
        app.UseDefaultFiles();
        app.UseStaticFiles();
        app.UseCors();
        app.MapGet("/api/instance", (ServerInstance self) => self);
        app.MapHub<ChatHub>(HubPath, options => options.AllowStatefulReconnects = true);
        app.MapSqliteBackplaneDashboard("/backplane"); // the backplane's live dashboard, local requests only

        app.Logger.LogInformation("Chat instance {Instance} (process {ProcessId}) serves http://127.0.0.1:{Port} on {Database}.",
            instance, server.ProcessId, port, server.Database);
        await app.RunAsync();
    }

    /// <summary>
    /// The origins of the pages of the other instances (as 127.0.0.1 and as localhost). Nothing else may call this
    /// instance from a browser, and no credentials are allowed: the page connects without cookies.
    /// </summary>
    private static IEnumerable<string> PeerOrigins(IEnumerable<int> peerPorts, int ownPort) =>
        peerPorts.Where(peer => peer != ownPort).SelectMany(peer => new[] { ServerInstance.LoopbackUrl(peer), $"http://localhost:{peer}" });
}

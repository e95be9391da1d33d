using Yarp.ReverseProxy.Configuration;

namespace ChatSample.Launcher;

/// <summary>
/// The launcher's front door: YARP on the base port, the one URL users open. Session affinity (a cookie of its own)
/// keeps a browser's requests, negotiate and transport alike, on one instance; an active health check of every
/// instance's <c>/health</c> each second takes a stopping or dead instance out, and its pages reconnect, through the same
/// URL, to another (FailurePolicy Redistribute). The settings are <see cref="YarpAffinityConfig"/>'s; docs/deployment.md
/// explains each.
/// </summary>
internal static class FrontDoor
{
    public static async Task<WebApplication> StartAsync(ChatSampleCommandLine commandLine)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        // The proxy logs every request a dead instance could not take; the launcher reports the deaths itself.
        builder.Logging.AddFilter("Yarp", LogLevel.Error);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        builder.WebHost.UseUrls(commandLine.FrontDoorUrl);
        builder.Services.AddReverseProxy().LoadFromMemory([Route], [Cluster(commandLine)]);
        var app = builder.Build();
        app.MapReverseProxy();
        await app.StartAsync();
        return app;
    }

    private static RouteConfig Route => YarpAffinityConfig.Route("chat");

    private static ClusterConfig Cluster(ChatSampleCommandLine commandLine) => YarpAffinityConfig.Cluster("chat", "chat-affinity", ChatServer.HealthPath, TimeSpan.FromSeconds(1),
        Enumerable.Range(1, commandLine.Instances).ToDictionary(instance => $"instance{instance}", instance => ServerInstance.LoopbackUrl(commandLine.PortFor(instance))));
}

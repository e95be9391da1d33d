using Yarp.ReverseProxy.Configuration;

namespace ChatSample.Launcher;

/// <summary>
/// The launcher's front door: YARP on the base port, the one URL users open. Session affinity (a cookie of its own)
/// keeps a browser's requests, negotiate and transport alike, on one instance; an active health check of every
/// instance's <c>/health</c> each second takes a stopping or dead instance out, and its pages reconnect, through the same
/// URL, to another (FailurePolicy Redistribute). docs/deployment.md explains each setting.
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

    private static RouteConfig Route => new()
    {
        RouteId = "chat",
        ClusterId = "chat",
        Match = new RouteMatch { Path = "{**catch-all}" },
    };

    private static ClusterConfig Cluster(ChatSampleCommandLine commandLine) => new()
    {
        ClusterId = "chat",
        LoadBalancingPolicy = "RoundRobin",
        SessionAffinity = new SessionAffinityConfig
        {
            Enabled = true,
            Policy = "Cookie",
            FailurePolicy = "Redistribute",
            AffinityKeyName = "chat-affinity",
        },
        HealthCheck = new HealthCheckConfig
        {
            Active = new ActiveHealthCheckConfig
            {
                Enabled = true,
                Interval = TimeSpan.FromSeconds(1),
                Timeout = TimeSpan.FromSeconds(10),
                Policy = "ConsecutiveFailures",
                Path = ChatServer.HealthPath,
            },
        },
        Metadata = new Dictionary<string, string> { ["ConsecutiveFailuresHealthPolicy.Threshold"] = "1" },
        Destinations = Enumerable.Range(1, commandLine.Instances).ToDictionary(
            instance => $"instance{instance}",
            instance => new DestinationConfig { Address = ServerInstance.LoopbackUrl(commandLine.PortFor(instance)) }),
    };
}

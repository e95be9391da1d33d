using Yarp.ReverseProxy.Configuration;

namespace ChatSample.Launcher;

/// <summary>
/// The YARP settings docs/deployment.md gives for a front door before several processes on one backplane file: every
/// path to one cluster, round robin for new clients, cookie session affinity (a cookie of its own) that keeps a
/// client's requests, negotiate and transport alike, on one process, and an active health check of each process's
/// health endpoint that takes a stopping or dead process out at its first failed probe (its health check fails at once
/// when it begins to stop); a client whose process is out goes to a healthy one (FailurePolicy Redistribute), which
/// then owns the cookie. One copy: the chat sample's launcher compiles it, and the deployment tests link it.
/// </summary>
internal static class YarpAffinityConfig
{
    /// <summary>Everything goes to the one cluster, named like the route.</summary>
    public static RouteConfig Route(string id) => new()
    {
        RouteId = id,
        ClusterId = id,
        Match = new RouteMatch { Path = "{**catch-all}" },
    };

    /// <summary>The processes (destination name to base address), with cookie affinity and a health probe every <paramref name="probeInterval"/>.</summary>
    public static ClusterConfig Cluster(string id, string affinityCookie, string healthPath, TimeSpan probeInterval, IReadOnlyDictionary<string, string> destinations) => new()
    {
        ClusterId = id,
        LoadBalancingPolicy = "RoundRobin",
        SessionAffinity = new SessionAffinityConfig
        {
            Enabled = true,
            Policy = "Cookie",
            FailurePolicy = "Redistribute",
            AffinityKeyName = affinityCookie,
        },
        HealthCheck = new HealthCheckConfig
        {
            Active = new ActiveHealthCheckConfig
            {
                Enabled = true,
                Interval = probeInterval,
                Timeout = TimeSpan.FromSeconds(10),
                Policy = "ConsecutiveFailures",
                Path = healthPath,
            },
        },
        Metadata = new Dictionary<string, string> { ["ConsecutiveFailuresHealthPolicy.Threshold"] = "1" },
        Destinations = destinations.ToDictionary(destination => destination.Key, destination => new DestinationConfig { Address = destination.Value }),
    };
}

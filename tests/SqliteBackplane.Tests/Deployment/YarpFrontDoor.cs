using ChatSample.Launcher;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Yarp.ReverseProxy.Configuration;

namespace SqliteBackplane.Tests.Deployment;

/// <summary>
/// YARP (Yarp.ReverseProxy) in this test process on a free loopback port, configured as docs/deployment.md says, with
/// the chat sample's settings (<see cref="YarpAffinityConfig"/>, linked into this project): cookie session affinity
/// (its own cookie), round robin for new clients, and active health checks against each process's health endpoint,
/// which fails at once when the process begins to stop.
/// </summary>
public sealed class YarpFrontDoor : IFrontDoor
{
    private readonly WebApplication _app;
    private readonly OutputLog _log;

    private YarpFrontDoor(WebApplication app, Uri address, OutputLog log)
    {
        _app = app;
        Address = address;
        _log = log;
    }

    public Uri Address { get; }

    /// <summary>YARP's warnings and its health-state changes, for failure messages.</summary>
    public string Log => _log.ToString();

    public static async Task<YarpFrontDoor> StartAsync(IReadOnlyList<Backend> backends)
    {
        var port = FrontDoors.FreeLoopbackPort();
        var builder = WebApplication.CreateSlimBuilder();
        var log = new OutputLog("yarp", null);
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new TestOutputLoggerProvider(log));
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("Yarp.ReverseProxy.Health", LogLevel.Information);
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Services.AddReverseProxy().LoadFromMemory([Route()], [Cluster(backends, TimeSpan.FromSeconds(1))]);
        var app = builder.Build();
        app.MapReverseProxy();
        await app.StartAsync();
        return new YarpFrontDoor(app, new Uri($"http://127.0.0.1:{port}"), log);
    }

    /// <summary>Everything goes to the one cluster.</summary>
    public static RouteConfig Route() => YarpAffinityConfig.Route("signalr");

    /// <summary>The processes, with cookie affinity and an active health check every <paramref name="probeInterval"/>.</summary>
    public static ClusterConfig Cluster(IReadOnlyList<Backend> backends, TimeSpan probeInterval) =>
        YarpAffinityConfig.Cluster("signalr", "signalr-affinity", TestServerApp.HealthPath, probeInterval,
            backends.ToDictionary(backend => backend.RouteKey, backend => $"http://127.0.0.1:{backend.Port}"));

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

using System.Net;
using System.Net.Sockets;

namespace SqliteBackplane.Tests.Deployment;

/// <summary>The two front doors the deployment guide describes (docs/deployment.md).</summary>
public enum FrontDoorKind
{
    /// <summary>Debian's nginx, routing by the app's affinity cookie (UseSqliteBackplaneAffinity).</summary>
    Nginx,

    /// <summary>YARP in a .NET process, with its own session-affinity cookie and active health checks.</summary>
    Yarp,
}

/// <summary>One server process behind a front door: its route key (the affinity cookie's value) and its port on 127.0.0.1.</summary>
public sealed record Backend(string RouteKey, int Port);

/// <summary>A reverse proxy on a free loopback port in front of several server processes. Disposing stops it.</summary>
public interface IFrontDoor : IAsyncDisposable
{
    /// <summary>The one address clients use, for example <c>http://127.0.0.1:41234</c>.</summary>
    Uri Address { get; }

    /// <summary>What the proxy logged, for failure messages.</summary>
    string Log { get; }
}

/// <summary>Starts a front door of either kind.</summary>
public static class FrontDoors
{
    public static async Task<IFrontDoor> StartAsync(FrontDoorKind kind, IReadOnlyList<Backend> backends) => kind switch
    {
        FrontDoorKind.Nginx => await NginxFrontDoor.StartAsync(backends),
        FrontDoorKind.Yarp => await YarpFrontDoor.StartAsync(backends),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>A port on 127.0.0.1 that was free a moment ago.</summary>
    public static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

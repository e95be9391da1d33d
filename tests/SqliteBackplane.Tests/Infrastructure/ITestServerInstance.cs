using Microsoft.AspNetCore.Http.Connections;
using SqliteBackplane.TestServer;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>One running test server (in this process or another), that test clients connect to.</summary>
public interface ITestServerInstance : IAsyncDisposable
{
    /// <summary>A short name for failure messages, such as "server 1 (pid 4242)".</summary>
    string Name { get; }

    /// <summary>The settings the server was started with.</summary>
    TestServerSettings Settings { get; }

    /// <summary>Connects a new client to <paramref name="hubPath"/> as <paramref name="user"/> over <paramref name="transport"/>.</summary>
    Task<TestClient> ConnectAsync(string user, HubProtocolKind protocol = HubProtocolKind.Json, string hubPath = HubPaths.Test, HttpTransportType transport = HttpTransportType.WebSockets);
}

using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.Http.Connections.Client;
using Microsoft.AspNetCore.TestHost;
using SqliteBackplane.TestServer;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// A test server inside the test process: its own WebApplication and DI container, configured by the same
/// <see cref="TestServerApp"/> code as the executable.
/// </summary>
public sealed class InProcessServer : ITestServerInstance
{
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    private readonly WebApplication _app;
    private readonly Uri _address;
    private readonly Action<HttpConnectionOptions>? _route;

    private InProcessServer(WebApplication app, Uri address, Action<HttpConnectionOptions>? route, TestServerSettings settings, string name)
    {
        _app = app;
        _address = address;
        _route = route;
        Settings = settings;
        Name = name;
    }

    public string Name { get; }

    public TestServerSettings Settings { get; }

    /// <summary>The server's services, for example its HubLifetimeManager or the presence API.</summary>
    public IServiceProvider Services => _app.Services;

    public static async Task<InProcessServer> StartAsync(TestServerSettings settings, string name, InProcessHosting hosting, ITestOutputHelper? testOutput = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new TestOutputLoggerProvider(new OutputLog(name, testOutput)));
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("SqliteBackplane", LogLevel.Information);
        if (hosting == InProcessHosting.TestHost)
        {
            builder.WebHost.UseTestServer();
        }
        else
        {
            TestServerApp.ListenOnLoopback(builder, settings with { Port = 0 });
        }
        TestServerApp.Configure(builder, settings);

        var app = builder.Build();
        try
        {
            TestServerApp.MapHubs(app);
            await app.StartAsync().DefaultTimeout($"{name} to start");
            return hosting == InProcessHosting.TestHost
                ? new InProcessServer(app, new Uri("http://localhost/"), InMemory(app.GetTestServer()), settings, name)
                : new InProcessServer(app, TestServerApp.GetListeningAddress(app), null, settings, name);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }

    public Task<TestClient> ConnectAsync(string user, HubProtocolKind protocol = HubProtocolKind.Json, string hubPath = HubPaths.Test, HttpTransportType transport = HttpTransportType.WebSockets) =>
        TestClient.ConnectAsync(new UriBuilder(_address) { Path = hubPath }.Uri, user, protocol, transport, $"{user} on {Name} {hubPath}", _route);

    /// <summary>
    /// Routes the official client's HTTP requests (negotiate, Server-Sent Events, long polling) and WebSockets
    /// to an in-memory TestServer instead of TCP; everything else is the client's own code.
    /// </summary>
    private static Action<HttpConnectionOptions> InMemory(Microsoft.AspNetCore.TestHost.TestServer server) => options =>
    {
        options.HttpMessageHandlerFactory = _ => server.CreateHandler();
        options.WebSocketFactory = async (context, cancellationToken) =>
            await server.CreateWebSocketClient().ConnectAsync(context.Uri, cancellationToken);
    };

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(StopTimeout);
            await _app.StopAsync(timeout.Token);
        }
        finally
        {
            await _app.DisposeAsync();
        }
    }
}

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SqliteBackplane.Tests.Infrastructure.Transport;
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
    private readonly WebSocketConnector _connector;
    private readonly Uri _webSocketBase;

    private InProcessServer(WebApplication app, WebSocketConnector connector, Uri webSocketBase, TestServerSettings settings, string name)
    {
        _app = app;
        _connector = connector;
        _webSocketBase = webSocketBase;
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
                ? new InProcessServer(app, WebSocketConnectors.InMemory(app.GetTestServer()), new Uri("ws://localhost/"), settings, name)
                : new InProcessServer(app, WebSocketConnectors.Tcp, new UriBuilder(TestServerApp.GetListeningAddress(app)) { Scheme = "ws" }.Uri, settings, name);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }

    public Task<TestClient> ConnectAsync(string user, HubProtocolKind protocol = HubProtocolKind.Json, string hubPath = HubPaths.Test) =>
        TestClient.ConnectAsync(_connector, new UriBuilder(_webSocketBase) { Path = hubPath }.Uri, user, protocol, $"{user} on {Name} {hubPath}");

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

using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Core;

/// <summary>In an app, the backplane node is the app's: one per container, with the app's logger and meter factories.</summary>
public class AppNodeTests
{
    [Fact]
    public async Task In_an_app_the_manager_presence_health_check_and_hosted_service_share_one_node_built_with_the_apps_factories()
    {
        using var database = new TempDatabase();
        var logs = new RecordingLoggerProvider();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.AddProvider(logs);
        builder.Services.AddSignalR().AddSqliteBackplane(database.ConnectionString);
        builder.Services.AddHealthChecks().AddSqliteBackplane();
        await using var app = builder.Build();
        using var meters = new MeterScopeRecorder();

        // The manager is the first to ask for the node, before the host starts: the node still uses the app's factories.
        var manager = Assert.IsType<SqliteHubLifetimeManager<TestHub>>(app.Services.GetRequiredService<HubLifetimeManager<TestHub>>());
        var node = manager.Node;
        await app.StartAsync().DefaultTimeout();

        var nodes = await app.Services.GetRequiredService<ISqliteBackplanePresence<TestHub>>().GetNodesAsync().DefaultTimeout();
        Assert.Equal(node.NodeId, Assert.Single(nodes).NodeId);
        var health = await app.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync().DefaultTimeout();
        Assert.Equal(node.NodeId, health.Entries["sqlite-backplane"].Data["node"]);
        Assert.Contains(logs.Entries, e => e.Category == "SqliteBackplane" && e.EventName == "NodeStarted" && e.Message.Contains(node.NodeId, StringComparison.Ordinal));
        Assert.Same(app.Services.GetRequiredService<IMeterFactory>(), meters.ScopeOf(node.NodeId));

        // The hosted service stops that same node on shutdown (removing its row); no manager has been disposed.
        await app.StopAsync().DefaultTimeout();
        Assert.True(node.IsStopped);
        Assert.Equal(0L, RawSqlite.Scalar(database, "SELECT COUNT(*) FROM signalr_nodes"));
    }

    [Fact]
    public async Task Disposing_a_manager_of_an_app_does_not_stop_the_apps_node()
    {
        using var database = new TempDatabase();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddSignalR().AddSqliteBackplane(database.ConnectionString);
        await using var app = builder.Build();
        await app.StartAsync().DefaultTimeout();
        var manager = (SqliteHubLifetimeManager<TestHub>)app.Services.GetRequiredService<HubLifetimeManager<TestHub>>();
        var other = (SqliteHubLifetimeManager<OtherHub>)app.Services.GetRequiredService<HubLifetimeManager<OtherHub>>();
        await using var client = new FakeClient();
        await other.OnConnectedAsync(client.Connection).DefaultTimeout();

        manager.Dispose();

        Assert.False(other.Node.IsStopped);
        await other.SendAllAsync(ClientMethods.Receive, ["still here"]).DefaultTimeout();
        await client.AssertReceivesAsync("still here");
        await app.StopAsync().DefaultTimeout();
    }

    private sealed class RecordingLoggerProvider : ILoggerProvider
    {
        public ConcurrentQueue<(string Category, string? EventName, string Message)> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(RecordingLoggerProvider owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner.Entries.Enqueue((category, eventId.Name, formatter(state, exception)));
        }
    }

    /// <summary>Records which meter factory created each node's meter (a meter's scope is its factory).</summary>
    private sealed class MeterScopeRecorder : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentDictionary<string, object?> _scopes = new();

        public MeterScopeRecorder()
        {
            _listener.InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Name == SqliteBackplaneOptions.MeterName
                    && instrument.Meter.Tags?.FirstOrDefault(t => t.Key == "sqlitebackplane.node.id").Value is string node)
                {
                    _scopes[node] = instrument.Meter.Scope;
                }
            };
            _listener.Start();
        }

        public object? ScopeOf(string nodeId) => _scopes.TryGetValue(nodeId, out var scope) ? scope : null;

        public void Dispose() => _listener.Dispose();
    }
}

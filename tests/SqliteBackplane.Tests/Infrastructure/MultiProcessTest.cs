using Microsoft.AspNetCore.Http.Connections;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// A test class that starts TestServer processes on one temporary database and connects clients to them. Every server
/// and client started through <see cref="StartAsync"/> and <see cref="ConnectAsync"/> is disposed after the test, in
/// reverse order of creation, and then the database is deleted.
/// </summary>
public abstract class MultiProcessTest(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _resources = [];

    /// <summary>The database file every server of the test shares.</summary>
    protected TempDatabase Database { get; } = new();

    /// <summary>The test's output, which the servers started here also write their logs to.</summary>
    protected ITestOutputHelper Output { get; } = output;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        for (var i = _resources.Count - 1; i >= 0; i--)
        {
            await _resources[i].DisposeAsync();
        }

        Database.Dispose();
    }

    /// <summary>Starts a server process (on <paramref name="port"/>, or a free one when 0; in <paramref name="workingDirectory"/> when given), disposed after the test.</summary>
    protected async Task<ServerProcess> StartAsync(TestServerSettings settings, string name, int port = 0, string? workingDirectory = null)
    {
        var server = await ServerProcess.StartAsync(settings, name, Output, port, workingDirectory);
        _resources.Add(server);
        return server;
    }

    /// <summary>Disposes <paramref name="resource"/> after the test, with the servers and clients started here.</summary>
    protected T DisposeAfterTest<T>(T resource) where T : IAsyncDisposable
    {
        _resources.Add(resource);
        return resource;
    }

    /// <summary>Connects a client as <paramref name="user"/> to <paramref name="server"/>, disposed after the test.</summary>
    protected async Task<TestClient> ConnectAsync(ServerProcess server, string user, HubProtocolKind protocol = HubProtocolKind.Json, HttpTransportType transport = HttpTransportType.WebSockets)
    {
        return DisposeAfterTest(await server.ConnectAsync(user, protocol, transport: transport));
    }
}

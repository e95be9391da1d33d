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
        List<IAsyncDisposable> resources;
        lock (_resources)
        {
            resources = [.. _resources];
        }

        for (var i = resources.Count - 1; i >= 0; i--)
        {
            await resources[i].DisposeAsync();
        }

        Database.Dispose();
    }

    /// <summary>
    /// Starts a server process (on <paramref name="port"/>, or a free one when 0; in <paramref name="workingDirectory"/>
    /// when given), disposed after the test. Its log goes to the test's output unless <paramref name="logToOutput"/> is
    /// false (a soak's servers, whose logs would drown the report; failures still show them).
    /// </summary>
    protected async Task<ServerProcess> StartAsync(TestServerSettings settings, string name, int port = 0, string? workingDirectory = null, bool logToOutput = true)
    {
        return DisposeAfterTest(await ServerProcess.StartAsync(settings, name, logToOutput ? Output : null, port, workingDirectory));
    }

    /// <summary>Disposes <paramref name="resource"/> after the test, with the servers and clients started here.</summary>
    protected T DisposeAfterTest<T>(T resource) where T : IAsyncDisposable
    {
        // Clients may be connected in parallel.
        lock (_resources)
        {
            _resources.Add(resource);
        }

        return resource;
    }

    /// <summary>Connects a client as <paramref name="user"/> to <paramref name="server"/>, disposed after the test.</summary>
    protected async Task<TestClient> ConnectAsync(ServerProcess server, string user, HubProtocolKind protocol = HubProtocolKind.Json, HttpTransportType transport = HttpTransportType.WebSockets)
    {
        return DisposeAfterTest(await server.ConnectAsync(user, protocol, transport: transport));
    }

    /// <summary>
    /// Starts <paramref name="serverCount"/> servers named <paramref name="namePrefix"/>-0, -1, ... (their logs kept out
    /// of the test's output) and connects <paramref name="clientsPerServer"/> clients to each, client i as user u{i} on
    /// server i % <paramref name="serverCount"/>; all disposed after the test.
    /// </summary>
    protected async Task<(List<ServerProcess> Servers, List<TestClient> Clients)> StartFleetAsync(TestServerSettings settings, string namePrefix, int serverCount,
        int clientsPerServer)
    {
        var servers = new List<ServerProcess>();
        for (var s = 0; s < serverCount; s++)
        {
            servers.Add(await StartAsync(settings, $"{namePrefix}-{s}", logToOutput: false));
        }

        var clients = new List<TestClient>();
        for (var i = 0; i < serverCount * clientsPerServer; i++)
        {
            clients.Add(await ConnectAsync(servers[i % serverCount], $"u{i}"));
        }

        return (servers, clients);
    }
}

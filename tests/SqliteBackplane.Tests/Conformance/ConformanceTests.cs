using System.Text.RegularExpressions;
using Microsoft.AspNetCore.SignalR;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Conformance;

/// <summary>
/// Every SignalR operation, checked end to end with real clients, in a topology the derived class chooses (one
/// server, two in-process servers, two processes). Server <c>i</c> means <c>i % ServerCount</c>, so on one server
/// the "cross-server" checks become same-server checks.
/// Negative checks never rely on timing: after the send that must not arrive, a marker is sent after it, and the
/// client's next message must be the marker.
/// </summary>
public abstract partial class ConformanceTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly List<ITestServerInstance> _servers = [];
    private readonly List<TestClient> _clients = [];
    private ITestServerInstance[] _topology = [];

    /// <summary>How many servers share the database file.</summary>
    protected abstract int ServerCount { get; }

    /// <summary>Whether the servers use the SQLite backplane (false only for the in-box baseline).</summary>
    protected virtual bool UseBackplane => true;

    protected ITestOutputHelper Output { get; } = output;

    protected TempDatabase Database { get; } = new();

    /// <summary>Starts one server of this topology with <paramref name="settings"/>.</summary>
    protected abstract Task<ITestServerInstance> StartServerCoreAsync(TestServerSettings settings, string name);

    public async Task InitializeAsync()
    {
        var servers = new ITestServerInstance[ServerCount];
        for (var i = 0; i < servers.Length; i++)
        {
            servers[i] = await StartServerAsync(DefaultSettings(), $"server {i}");
        }
        _topology = servers;
    }

    public async Task DisposeAsync()
    {
        foreach (var client in _clients)
        {
            await client.DisposeAsync();
        }
        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }
        Database.Dispose();
    }

    /// <summary>
    /// Whether every connection sees all sends in one order (the SQLite backplane: one log per file). Microsoft's
    /// Redis backplane orders per channel only (all, group, connection, user), and writes to a local connection at once.
    /// </summary>
    protected virtual bool ExpectsGlobalOrder => true;

    /// <summary>
    /// Whether a group change for a connection no server holds waits for an acknowledgement that never comes
    /// (Redis: up to its 30 s ack timeout) instead of returning at once.
    /// </summary>
    protected virtual bool GroupChangesWaitForAcknowledgement => false;

    /// <summary>
    /// Whether <c>Clients.Users</c> with a user id listed twice reaches that user's connections once (SQLite, and
    /// SignalR's in-box manager) rather than once per listing (Redis).
    /// </summary>
    protected virtual bool DeliversOnceToAUserListedTwice => true;

    protected virtual TestServerSettings DefaultSettings() => new()
    {
        DatabasePath = Database.Path,
        UseBackplane = UseBackplane,
    };

    /// <summary>Starts a further server (for example with another table prefix); it is stopped after the test.</summary>
    protected async Task<ITestServerInstance> StartServerAsync(TestServerSettings settings, string name)
    {
        var server = await StartServerCoreAsync(settings, name);
        _servers.Add(server);
        return server;
    }

    protected ITestServerInstance Server(int index) => _topology[index % _topology.Length];

    protected bool OnSameServer(int first, int second) => first % _topology.Length == second % _topology.Length;

    /// <summary>Connects a client to server <paramref name="serverIndex"/>; it is disconnected after the test.</summary>
    protected Task<TestClient> ConnectAsync(int serverIndex, string user, HubProtocolKind protocol = HubProtocolKind.Json, string hubPath = HubPaths.Test) =>
        ConnectAsync(Server(serverIndex), user, protocol, hubPath);

    protected async Task<TestClient> ConnectAsync(ITestServerInstance server, string user, HubProtocolKind protocol = HubProtocolKind.Json, string hubPath = HubPaths.Test)
    {
        var client = await server.ConnectAsync(user, protocol, hubPath);
        _clients.Add(client);
        return client;
    }

    /// <summary>No client has an unread message or receives a late or duplicate one (see <see cref="TestClient.AssertNoMoreMessagesAsync"/>).</summary>
    protected static Task AssertNoMoreMessagesAsync(TestClient sender, params TestClient[] clients) =>
        TestClient.AssertNoMoreMessagesAsync(sender, clients);

    /// <summary>
    /// The exception a hub method failed with, as <see cref="TestHub"/> reports it: "{exception type}: {message}".
    /// (SignalR tells the client "An unexpected error occurred invoking '{method}' on the server. HubException: {message}".)
    /// </summary>
    protected static async Task<string> AssertHubFailsAsync(Task call)
    {
        var exception = await Assert.ThrowsAsync<HubException>(() => call);
        var match = HubErrorPattern().Match(exception.Message);
        Assert.True(match.Success, $"The hub error has an unexpected shape: {exception.Message}");
        return match.Groups["error"].Value;
    }

    [GeneratedRegex("^An unexpected error occurred invoking '[^']*' on the server\\. HubException: (?<error>.*)$", RegexOptions.Singleline)]
    private static partial Regex HubErrorPattern();

    protected static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}";
}

using System.Threading.Channels;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.Http.Connections.Client;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.AspNetCore.SignalR.Protocol;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// The official .NET SignalR client (Microsoft.AspNetCore.SignalR.Client: negotiate and its real transports) connected
/// to one test server. It records every
/// <see cref="ClientMethods.Receive"/> and <see cref="ClientMethods.ReceivePayload"/> call in arrival order.
/// </summary>
public sealed class TestClient : IAsyncDisposable
{
    private readonly Channel<string> _messages = Channel.CreateUnbounded<string>();
    private readonly Channel<TestPayload> _payloads = Channel.CreateUnbounded<TestPayload>();
    private readonly Channel<ExactPayload> _exactPayloads = Channel.CreateUnbounded<ExactPayload>();
    private readonly TaskCompletionSource<Exception?> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private TestClient(HubConnection connection, string user, string description)
    {
        Connection = connection;
        User = user;
        Description = description;
        connection.On<string>(ClientMethods.Receive, message => _messages.Writer.TryWrite(message));
        connection.On<TestPayload>(ClientMethods.ReceivePayload, payload => _payloads.Writer.TryWrite(payload));
        connection.On<ExactPayload>(ClientMethods.ReceiveExact, payload => _exactPayloads.Writer.TryWrite(payload));
        connection.Closed += error =>
        {
            _closed.TrySetResult(error);
            return Task.CompletedTask;
        };
    }

    /// <summary>The underlying SignalR client connection.</summary>
    public HubConnection Connection { get; }

    /// <summary>The user id the client connected as.</summary>
    public string User { get; }

    /// <summary>The connection id the server assigned, as the hub reports it.</summary>
    public string ConnectionId { get; private set; } = "";

    /// <summary>Who this is, for failure messages: user, hub and server.</summary>
    public string Description { get; }

    /// <summary>Completes when the connection closes, with the error that closed it, if any.</summary>
    public Task<Exception?> Closed => _closed.Task;

    /// <summary>
    /// Connects with the official client's HTTP connection (negotiate, then <paramref name="transport"/>) to
    /// <paramref name="hubUri"/> and returns once the server has finished OnConnectedAsync, which a completed hub
    /// invocation proves. <paramref name="configureHttp"/> can route the connection (an in-memory TestServer) or
    /// replace its WebSockets; <paramref name="statefulReconnect"/> asks for SignalR's stateful reconnect;
    /// <paramref name="clientLog"/> receives the client's own log (Debug and above); <paramref name="configureBuilder"/>
    /// adds to the builder (the resume helper, automatic reconnect).
    /// </summary>
    public static async Task<TestClient> ConnectAsync(
        Uri hubUri,
        string user,
        HubProtocolKind protocol,
        HttpTransportType transport,
        string description,
        Action<HttpConnectionOptions>? configureHttp = null,
        bool statefulReconnect = false,
        OutputLog? clientLog = null,
        Action<IHubConnectionBuilder>? configureBuilder = null)
    {
        var builder = new HubConnectionBuilder()
            .WithUrl(WithUser(hubUri, user), transport, options => configureHttp?.Invoke(options));
        configureBuilder?.Invoke(builder);
        if (statefulReconnect)
        {
            builder.WithStatefulReconnect();
        }
        if (clientLog is not null)
        {
            builder.Services.AddLogging(logging => logging.AddProvider(new TestOutputLoggerProvider(clientLog)).SetMinimumLevel(LogLevel.Debug));
        }
        // HubConnection takes the last registered protocol, so this one replaces the builder's default JSON.
        builder.Services.AddSingleton<IHubProtocol>(TestHubProtocols.Create(protocol));
        var transportName = transport == HttpTransportType.WebSockets ? "" : $", {transport}";
        var client = new TestClient(builder.Build(), user, $"{description} ({protocol}{transportName})");
        try
        {
            await client.Connection.StartAsync().DefaultTimeout($"{client.Description} to connect");
            client.ConnectionId = await client.Connection.InvokeAsync<string>(nameof(TestHub.GetConnectionId)).DefaultTimeout($"{client.Description} to get its connection id");
            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    /// <summary>Asks the hub for this client's connection id again (it changes when the client reconnects) and returns it.</summary>
    public async Task<string> RefreshConnectionIdAsync()
    {
        ConnectionId = await InvokeAsync<string>(nameof(TestHub.GetConnectionId));
        return ConnectionId;
    }

    /// <summary>Invokes a hub method and waits for it to complete.</summary>
    public Task InvokeAsync(string methodName, params object?[] args) =>
        Connection.InvokeCoreAsync(methodName, args).DefaultTimeout($"{Description} invoking {methodName}");

    /// <summary>Invokes a hub method and returns its result.</summary>
    public Task<T> InvokeAsync<T>(string methodName, params object?[] args) =>
        Connection.InvokeCoreAsync<T>(methodName, args).DefaultTimeout($"{Description} invoking {methodName}");

    /// <summary>Waits for the next <see cref="ClientMethods.Receive"/> message.</summary>
    public Task<string> ReceiveAsync() =>
        _messages.Reader.ReadAsync().AsTask().DefaultTimeout($"{Description} to receive a message");

    /// <summary>Waits for the next <paramref name="count"/> messages, in arrival order.</summary>
    public async Task<IReadOnlyList<string>> ReceiveAsync(int count)
    {
        var messages = new List<string>(count);
        for (var i = 0; i < count; i++)
        {
            messages.Add(await ReceiveAsync());
        }
        return messages;
    }

    /// <summary>Asserts that the next message is <paramref name="expected"/>.</summary>
    public async Task AssertReceivesAsync(string expected)
    {
        var actual = await ReceiveAsync();
        Assert.True(expected == actual, $"{Description} expected message '{expected}' but received '{actual}'.");
    }

    /// <summary>Waits for the next <see cref="ClientMethods.ReceivePayload"/> payload.</summary>
    public Task<TestPayload> ReceivePayloadAsync() =>
        _payloads.Reader.ReadAsync().AsTask().DefaultTimeout($"{Description} to receive a payload");

    /// <summary>Waits for the next <see cref="ClientMethods.ReceiveExact"/> payload.</summary>
    public Task<ExactPayload> ReceiveExactAsync() =>
        _exactPayloads.Reader.ReadAsync().AsTask().DefaultTimeout($"{Description} to receive an exact payload");

    /// <summary>
    /// Proves that none of <paramref name="clients"/> has an unread message or receives a late or duplicate one:
    /// <paramref name="sender"/> sends a fresh marker to each of them, after everything sent so far, and each
    /// client's next message must be that marker.
    /// </summary>
    public static async Task AssertNoMoreMessagesAsync(TestClient sender, params TestClient[] clients)
    {
        var marker = $"marker-{Guid.NewGuid():N}";
        await sender.InvokeAsync(nameof(TestHub.SendConnections), clients.Select(c => c.ConnectionId).ToArray(), marker);
        foreach (var client in clients)
        {
            var next = await client.ReceiveAsync();
            Assert.True(next == marker, $"{client.Description} received an unexpected message '{next}' (expected nothing before the marker).");
        }
    }

    /// <summary>Answers <see cref="ClientMethods.Compute"/> client-result invocations with <paramref name="compute"/>.</summary>
    public void OnCompute(Func<int, Task<int>> compute)
    {
        // SignalR allows one result-returning handler per method, so a new one replaces the old.
        Connection.Remove(ClientMethods.Compute);
        Connection.On(ClientMethods.Compute, compute);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Connection.DisposeAsync().DefaultTimeout($"{Description} to disconnect");
        }
        catch (TimeoutException)
        {
            // A client of a killed server may not close cleanly; that must not hide the test's own result.
        }
    }

    private static Uri WithUser(Uri hubUri, string user)
    {
        var separator = string.IsNullOrEmpty(hubUri.Query) ? "?" : "&";
        return new Uri($"{hubUri}{separator}{QueryStringUserIdProvider.ParameterName}={Uri.EscapeDataString(user)}");
    }
}

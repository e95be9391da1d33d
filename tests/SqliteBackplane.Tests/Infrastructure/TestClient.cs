using System.Net;
using System.Net.WebSockets;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.DependencyInjection;
using SqliteBackplane.Tests.Infrastructure.Transport;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// A real .NET SignalR client (Microsoft.AspNetCore.SignalR.Client) connected to one test server. It records every
/// <see cref="ClientMethods.Receive"/> and <see cref="ClientMethods.ReceivePayload"/> call in arrival order.
/// </summary>
public sealed class TestClient : IAsyncDisposable
{
    private readonly Channel<string> _messages = Channel.CreateUnbounded<string>();
    private readonly Channel<TestPayload> _payloads = Channel.CreateUnbounded<TestPayload>();
    private readonly TaskCompletionSource<Exception?> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private TestClient(HubConnection connection, string user, string description)
    {
        Connection = connection;
        User = user;
        Description = description;
        connection.On<string>(ClientMethods.Receive, message => _messages.Writer.TryWrite(message));
        connection.On<TestPayload>(ClientMethods.ReceivePayload, payload => _payloads.Writer.TryWrite(payload));
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

    /// <summary>The connection id the server assigned (the client cannot know it without negotiation, so it asks).</summary>
    public string ConnectionId { get; private set; } = "";

    /// <summary>Who this is, for failure messages: user, hub and server.</summary>
    public string Description { get; }

    /// <summary>Completes when the connection closes, with the error that closed it, if any.</summary>
    public Task<Exception?> Closed => _closed.Task;

    /// <summary>
    /// Connects over a WebSocket straight to <paramref name="hubUri"/> (no negotiation) and returns once the server has
    /// finished OnConnectedAsync, which a completed hub invocation proves.
    /// </summary>
    internal static async Task<TestClient> ConnectAsync(WebSocketConnector connector, Uri hubUri, string user, HubProtocolKind protocol, string description)
    {
        var builder = new HubConnectionBuilder();
        builder.Services.AddSingleton<IConnectionFactory>(new WebSocketConnectionFactory(connector, WebSocketMessageType.Text));
        builder.Services.AddSingleton<EndPoint>(new UriEndPoint(WithUser(hubUri, user)));
        builder.Services.AddSingleton<IHubProtocol>(TestHubProtocols.Create(protocol));
        var client = new TestClient(builder.Build(), user, $"{description} ({protocol})");
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

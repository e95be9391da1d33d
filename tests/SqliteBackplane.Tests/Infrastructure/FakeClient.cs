using System.Buffers;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// A connection for tests that drive a <see cref="HubLifetimeManager{THub}"/> directly, without a host. The manager
/// writes to <see cref="Connection"/>; the fake client parses those bytes back with its protocol, as a real client would.
/// </summary>
public sealed class FakeClient : IAsyncDisposable
{
    private readonly DuplexPipe _application;
    private readonly IHubProtocol _protocol;

    /// <param name="userId">The connection's user.</param>
    /// <param name="protocol">The connection's hub protocol.</param>
    /// <param name="query">The query string of the connection's HTTP request (for example the resume parameter), or null for none.</param>
    public FakeClient(string? userId = null, HubProtocolKind protocol = HubProtocolKind.Json, string? query = null)
    {
        var (transport, application) = DuplexPipe.CreatePair();
        _application = application;
        _protocol = TestHubProtocols.Create(protocol);
        var context = new DefaultConnectionContext(Guid.NewGuid().ToString("N"), transport, application);
        if (query is not null)
        {
            var http = new Microsoft.AspNetCore.Http.DefaultHttpContext();
            http.Request.QueryString = new Microsoft.AspNetCore.Http.QueryString(query);
            context.Features.Set<Microsoft.AspNetCore.Http.Connections.Features.IHttpContextFeature>(new HttpRequestOfConnection { HttpContext = http });
        }

        Connection = new FakeHubConnectionContext(context, _protocol) { UserIdentifier = userId };
    }

    /// <summary>What the lifetime manager sees.</summary>
    public HubConnectionContext Connection { get; }

    public string ConnectionId => Connection.ConnectionId;

    /// <summary>Reads the next message the manager wrote to this connection.</summary>
    public Task<HubMessage> ReadAsync() => ReadCoreAsync().DefaultTimeout($"fake client {ConnectionId} to receive a message");

    /// <summary>Reads the next message and asserts it is an invocation.</summary>
    public async Task<InvocationMessage> ReadInvocationAsync()
    {
        var message = await ReadAsync();
        return Assert.IsType<InvocationMessage>(message);
    }

    /// <summary>Asserts that the next message is a <see cref="ClientMethods.Receive"/> call with exactly <paramref name="expected"/>.</summary>
    public async Task AssertReceivesAsync(string expected)
    {
        var invocation = await ReadInvocationAsync();
        Assert.Equal(ClientMethods.Receive, invocation.Target);
        Assert.Null(invocation.InvocationId);
        var argument = Assert.Single(invocation.Arguments);
        Assert.True(expected.Equals(argument), $"Fake client {ConnectionId} expected '{expected}' but received '{argument}'.");
    }

    /// <summary>
    /// Answers a client-result invocation the way SignalR's connection handler would: the completion is serialized
    /// with this client's protocol, parsed with the types <paramref name="owner"/> reports, and handed to it.
    /// </summary>
    public Task CompleteAsync<THub>(HubLifetimeManager<THub> owner, CompletionMessage completion) where THub : Hub =>
        CompleteAsAsync(owner, ConnectionId, completion);

    /// <summary>Like <see cref="CompleteAsync{THub}"/>, but claims the completion comes from <paramref name="connectionId"/>.</summary>
    public Task CompleteAsAsync<THub>(HubLifetimeManager<THub> owner, string connectionId, CompletionMessage completion) where THub : Hub
    {
        var bytes = new ReadOnlySequence<byte>(_protocol.GetMessageBytes(completion));
        if (!_protocol.TryParseMessage(ref bytes, new ManagerResultBinder<THub>(owner), out var parsed))
        {
            throw new InvalidOperationException("The fake client's completion did not parse.");
        }
        return owner.SetConnectionResultAsync(connectionId, Assert.IsType<CompletionMessage>(parsed));
    }

    /// <summary>Disconnects the way a host does: the connection aborts, then the manager hears of it.</summary>
    public async Task DisconnectAsync<THub>(HubLifetimeManager<THub> owner) where THub : Hub
    {
        Connection.Abort();
        await owner.OnDisconnectedAsync(Connection).DefaultTimeout($"fake client {ConnectionId} to disconnect");
    }

    public async ValueTask DisposeAsync()
    {
        await _application.Output.CompleteAsync();
        await _application.Input.CompleteAsync();
    }

    private async Task<HubMessage> ReadCoreAsync()
    {
        var reader = _application.Input;
        while (true)
        {
            var result = await reader.ReadAsync();
            var buffer = result.Buffer;
            if (_protocol.TryParseMessage(ref buffer, FakeClientBinder.Instance, out var message))
            {
                reader.AdvanceTo(buffer.Start);
                return message;
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                throw new InvalidOperationException($"Fake client {ConnectionId}: the connection was closed while a message was expected.");
            }
        }
    }

    private sealed class HttpRequestOfConnection : Microsoft.AspNetCore.Http.Connections.Features.IHttpContextFeature
    {
        public Microsoft.AspNetCore.Http.HttpContext? HttpContext { get; set; }
    }
}

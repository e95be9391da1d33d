using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Connections;

namespace SqliteBackplane.Tests.Infrastructure.Transport;

/// <summary>
/// The <see cref="IConnectionFactory"/> the SignalR client uses: it opens a WebSocket straight to the hub URL
/// (the "skip negotiation" mode ASP.NET Core accepts for WebSockets) through a pluggable connector, so the same
/// client code runs against Kestrel (<see cref="ClientWebSocket"/>) and against an in-memory TestServer.
/// </summary>
internal sealed class WebSocketConnectionFactory(WebSocketConnector connect, WebSocketMessageType messageType) : IConnectionFactory
{
    public async ValueTask<ConnectionContext> ConnectAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (endpoint is not UriEndPoint { Uri: var uri })
        {
            throw new NotSupportedException($"Only {nameof(UriEndPoint)} is supported, not {endpoint.GetType().Name}.");
        }
        var socket = await connect(uri, cancellationToken);
        return new WebSocketConnection(socket, messageType);
    }
}

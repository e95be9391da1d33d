using System.Net.WebSockets;
using Microsoft.AspNetCore.TestHost;

namespace SqliteBackplane.Tests.Infrastructure.Transport;

/// <summary>The two ways tests open WebSockets: over TCP to Kestrel, or in memory to a TestServer.</summary>
internal static class WebSocketConnectors
{
    /// <summary>A real <see cref="ClientWebSocket"/> over TCP.</summary>
    public static WebSocketConnector Tcp { get; } = async (uri, cancellationToken) =>
    {
        var socket = new ClientWebSocket();
        try
        {
            await socket.ConnectAsync(uri, cancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    };

    /// <summary>An in-memory WebSocket to <paramref name="server"/>.</summary>
    public static WebSocketConnector InMemory(Microsoft.AspNetCore.TestHost.TestServer server) =>
        (uri, cancellationToken) => server.CreateWebSocketClient().ConnectAsync(uri, cancellationToken);
}

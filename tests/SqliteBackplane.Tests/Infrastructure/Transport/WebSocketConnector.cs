using System.Net.WebSockets;

namespace SqliteBackplane.Tests.Infrastructure.Transport;

/// <summary>Opens a client WebSocket to a <c>ws://</c> URL.</summary>
internal delegate Task<WebSocket> WebSocketConnector(Uri uri, CancellationToken cancellationToken);

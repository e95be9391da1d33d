using System.Net.Sockets;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Http.Connections.Client;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// The client's WebSockets over TCP sockets the test owns: it can cut them like a network failure (no close
/// frame) and hold new connections behind a gate. The client opens one per transport connection, including
/// its stateful reconnect. <see cref="RouteTo"/> sends the next connections to another server (same path and query),
/// as a load balancer would after a failover; use it with <c>SkipNegotiation</c>, so the WebSocket is the only request.
/// </summary>
internal sealed class DroppableNetwork
{
    private readonly Lock _lock = new();
    private readonly List<Socket> _sockets = [];
    private TaskCompletionSource _gate = CompletedGate();
    private int _connections;

    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Runs in the background once each WebSocket is up, with the number of connections so far (1 for the first).</summary>
    public Func<int, Task>? Connected { get; set; }

    public void Configure(HttpConnectionOptions options) => options.WebSocketFactory = ConnectAsync;

    private Uri? _route;

    /// <summary>Sends later connections to <paramref name="server"/>'s host and port instead of the URL's own.</summary>
    public void RouteTo(Uri server)
    {
        lock (_lock)
        {
            _route = server;
        }
    }

    public void HoldConnects()
    {
        lock (_lock)
        {
            _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    public void ReleaseConnects()
    {
        lock (_lock)
        {
            _gate.TrySetResult();
        }
    }

    public void DropAll()
    {
        lock (_lock)
        {
            foreach (var socket in _sockets)
            {
                socket.Close(0);
            }
            _sockets.Clear();
        }
    }

    private async ValueTask<WebSocket> ConnectAsync(WebSocketConnectionContext context, CancellationToken cancellationToken)
    {
        Task gate;
        var uri = context.Uri;
        lock (_lock)
        {
            gate = _gate.Task;
            if (_route is { } route)
            {
                uri = new UriBuilder(uri) { Host = route.Host, Port = route.Port }.Uri;
            }
        }
        await gate.WaitAsync(cancellationToken);
        var handler = new SocketsHttpHandler { ConnectCallback = ConnectTcpAsync };
        var webSocket = new ClientWebSocket();
        await webSocket.ConnectAsync(uri, new HttpMessageInvoker(handler), cancellationToken);
        var count = Interlocked.Increment(ref _connections);
        if (Connected is { } connected)
        {
            _ = Task.Run(() => connected(count), CancellationToken.None);
        }

        return webSocket;
    }

    private async ValueTask<Stream> ConnectTcpAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        lock (_lock)
        {
            _sockets.Add(socket);
        }
        return new NetworkStream(socket, ownsSocket: true);
    }

    private static TaskCompletionSource CompletedGate()
    {
        var gate = new TaskCompletionSource();
        gate.SetResult();
        return gate;
    }
}

using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using SqliteBackplane.TestServer;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// A SignalR client on a bare WebSocket (JSON protocol, no negotiation) that reads from the socket only when the test
/// asks for the next message. The official client reads its socket as fast as it can and queues invocations in memory,
/// so it cannot show what a slow reader does to the server; this one can, and one that stops asking stops reading.
/// </summary>
public sealed class RawHubClient : IAsyncDisposable
{
    private const byte RecordSeparator = 0x1e;
    private readonly ClientWebSocket _socket = new();
    private readonly byte[] _buffer = new byte[16 * 1024];
    private readonly MemoryStream _pending = new();
    private readonly Queue<byte[]> _records = new();
    private readonly CancellationTokenSource _closing = new();
    private Task _keepAlive = Task.CompletedTask;

    private RawHubClient()
    {
    }

    /// <summary>The connection id the server assigned.</summary>
    public string ConnectionId { get; private set; } = "";

    /// <summary>Connects to the test hub of the server at <paramref name="server"/> and returns once the hub knows the connection.</summary>
    public static async Task<RawHubClient> ConnectAsync(Uri server)
    {
        var client = new RawHubClient();
        try
        {
            var uri = new UriBuilder(server) { Scheme = "ws", Path = HubPaths.Test }.Uri;
            await client._socket.ConnectAsync(uri, CancellationToken.None).DefaultTimeout($"a raw WebSocket to {uri}");
            await client.SendAsync("""{"protocol":"json","version":1}""");
            var handshake = await client.ReadRecordAsync().DefaultTimeout("the handshake response");
            if (handshake.TryGetProperty("error", out var error))
            {
                throw new InvalidOperationException($"The server refused the handshake: {error}");
            }

            // A completed invocation proves the server finished OnConnectedAsync, so broadcasts from now on reach it.
            await client.SendAsync("""{"type":1,"invocationId":"1","target":"GetConnectionId","arguments":[]}""");
            while (true)
            {
                var record = await client.ReadRecordAsync().DefaultTimeout("the connection id");
                if (record.GetProperty("type").GetInt32() == 3)
                {
                    client.ConnectionId = record.GetProperty("result").GetString()!;
                    client._keepAlive = client.KeepAliveAsync();
                    return client;
                }
            }
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    /// <summary>Reads from the socket until the next <c>Receive</c> invocation and returns its argument.</summary>
    public async Task<string> ReceiveAsync()
    {
        while (true)
        {
            var record = await ReadRecordAsync();
            if (record.GetProperty("type").GetInt32() == 1 && record.GetProperty("target").GetString() == ClientMethods.Receive)
            {
                return record.GetProperty("arguments")[0].GetString()!;
            }
        }
    }

    private async Task<JsonElement> ReadRecordAsync()
    {
        while (_records.Count == 0)
        {
            var result = await _socket.ReceiveAsync(_buffer, CancellationToken.None);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new InvalidOperationException($"The server closed the connection ({_socket.CloseStatus}: {_socket.CloseStatusDescription}).");
            }

            var start = 0;
            for (var i = 0; i < result.Count; i++)
            {
                if (_buffer[i] == RecordSeparator)
                {
                    _pending.Write(_buffer, start, i - start);
                    _records.Enqueue(_pending.ToArray());
                    _pending.SetLength(0);
                    start = i + 1;
                }
            }

            _pending.Write(_buffer, start, result.Count - start);
        }

        return JsonDocument.Parse(_records.Dequeue()).RootElement;
    }

    // Pings while the test does not read, so the server does not time the client out (ClientTimeoutInterval).
    private async Task KeepAliveAsync()
    {
        try
        {
            while (true)
            {
                await Task.Delay(TimeSpan.FromSeconds(5), _closing.Token);
                await SendAsync("""{"type":6}""");
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
        }
    }

    private Task SendAsync(string json) =>
        _socket.SendAsync(Encoding.UTF8.GetBytes(json + (char)RecordSeparator), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);

    public async ValueTask DisposeAsync()
    {
        _closing.Cancel();
        await _keepAlive;
        _socket.Abort();
        _socket.Dispose();
        _closing.Dispose();
    }
}

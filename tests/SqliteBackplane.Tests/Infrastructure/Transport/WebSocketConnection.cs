using System.Buffers;
using System.IO.Pipelines;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;

namespace SqliteBackplane.Tests.Infrastructure.Transport;

/// <summary>
/// A client-side <see cref="ConnectionContext"/> over an open <see cref="WebSocket"/>: bytes the server sends are
/// written to <see cref="Transport"/>'s input, and whatever the SignalR client writes is sent as WebSocket messages.
/// When the socket fails (for example the server process is killed), the input completes with that exception.
/// </summary>
internal sealed class WebSocketConnection : ConnectionContext
{
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(5);

    private readonly WebSocket _socket;
    private readonly WebSocketMessageType _messageType;
    private readonly Pipe _received = new();
    private readonly Pipe _toSend = new();
    private readonly Task _receiving;
    private readonly Task _sending;

    public WebSocketConnection(WebSocket socket, WebSocketMessageType messageType)
    {
        _socket = socket;
        _messageType = messageType;
        Transport = new DuplexPipe(_received.Reader, _toSend.Writer);
        _receiving = ReceiveLoopAsync();
        _sending = SendLoopAsync();
    }

    public override string ConnectionId { get; set; } = Guid.NewGuid().ToString("N");

    public override IFeatureCollection Features { get; } = new FeatureCollection();

    public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();

    public override IDuplexPipe Transport { get; set; }

    public override void Abort(ConnectionAbortedException abortReason) => _socket.Abort();

    public override async ValueTask DisposeAsync()
    {
        // Finish sending, then close politely; a server that does not answer in time is cut off.
        await _toSend.Writer.CompleteAsync();
        await WaitQuietlyAsync(_sending);
        await WaitQuietlyAsync(_receiving);
        _socket.Abort();
        _socket.Dispose();
    }

    private async Task ReceiveLoopAsync()
    {
        var writer = _received.Writer;
        try
        {
            while (true)
            {
                var memory = writer.GetMemory(4096);
                var result = await _socket.ReceiveAsync(memory, CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }
                writer.Advance(result.Count);
                var flush = await writer.FlushAsync();
                if (flush.IsCompleted)
                {
                    break;
                }
            }
            await writer.CompleteAsync();
        }
        catch (Exception ex)
        {
            await writer.CompleteAsync(ex);
        }
    }

    private async Task SendLoopAsync()
    {
        var reader = _toSend.Reader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync();
                var buffer = result.Buffer;
                try
                {
                    if (!buffer.IsEmpty)
                    {
                        await SendAsOneMessageAsync(buffer);
                    }
                    if (result.IsCompleted)
                    {
                        break;
                    }
                }
                finally
                {
                    reader.AdvanceTo(buffer.End);
                }
            }
            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var timeout = new CancellationTokenSource(CloseTimeout);
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
            }
        }
        catch (Exception)
        {
            // The socket is gone; the receive loop reports why.
        }
        finally
        {
            await reader.CompleteAsync();
        }
    }

    private async Task SendAsOneMessageAsync(ReadOnlySequence<byte> buffer)
    {
        ReadOnlyMemory<byte> previous = default;
        var hasPrevious = false;
        foreach (var segment in buffer)
        {
            if (hasPrevious)
            {
                await _socket.SendAsync(previous, _messageType, endOfMessage: false, CancellationToken.None);
            }
            previous = segment;
            hasPrevious = true;
        }
        await _socket.SendAsync(previous, _messageType, endOfMessage: true, CancellationToken.None);
    }

    private static async Task WaitQuietlyAsync(Task task)
    {
        try
        {
            await task.WaitAsync(CloseTimeout);
        }
        catch (TimeoutException)
        {
            // Abort below ends it.
        }
    }
}

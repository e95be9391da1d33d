using System.Buffers;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace SqliteBackplane.Benchmarks;

/// <summary>
/// A SignalR client cut to what the fan-out scenario needs, so that thousands fit in the driver beside the servers on
/// 2 cores: negotiate, a raw WebSocket, the JSON handshake, then it parses only <see cref="BenchHub.LatencyMethod"/>
/// invocations (send timestamp, sequence number) and answers nothing but pings. The official client costs a
/// HubConnection, its pipes and its timers per connection, which is what the servers are measured on, not the driver.
/// </summary>
public sealed class RawBroadcastReceiver : IAsyncDisposable
{
    private const byte RecordSeparator = 0x1e;
    private static readonly byte[] Handshake = Encoding.UTF8.GetBytes("{\"protocol\":\"json\",\"version\":1}\u001e");
    private static readonly byte[] Ping = Encoding.UTF8.GetBytes("{\"type\":6}\u001e");

    private readonly ClientWebSocket _socket = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Func<BroadcastTally> _tally;
    private Task _receiving = Task.CompletedTask;

    private RawBroadcastReceiver(Func<BroadcastTally> tally) => _tally = tally;

    /// <summary>
    /// Connects to the hub at <paramref name="hub"/> (http://host:port/path) and starts receiving into the tally
    /// <paramref name="tally"/> returns at each delivery (the warm-up's, then the measurement's).
    /// </summary>
    public static async Task<RawBroadcastReceiver> ConnectAsync(HttpClient http, Uri hub, Func<BroadcastTally> tally)
    {
        using var negotiate = await http.PostAsync(new Uri(hub + "/negotiate?negotiateVersion=1"), content: null);
        negotiate.EnsureSuccessStatusCode();
        var body = await negotiate.Content.ReadFromJsonAsync<JsonElement>();
        var token = body.GetProperty("connectionToken").GetString();
        var receiver = new RawBroadcastReceiver(tally);
        try
        {
            await receiver._socket.ConnectAsync(new Uri($"ws://{hub.Authority}{hub.AbsolutePath}?id={token}"), CancellationToken.None);
            await receiver._socket.SendAsync(Handshake, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
            receiver._receiving = Task.Run(receiver.ReceiveAsync);
            return receiver;
        }
        catch
        {
            await receiver.DisposeAsync();
            throw;
        }
    }

    private async Task ReceiveAsync()
    {
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        var pending = new ArrayBufferWriter<byte>(1024);
        var lastPing = Stopwatch.GetTimestamp();
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var result = await _socket.ReceiveAsync(buffer.AsMemory(), _stop.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
                pending.Write(buffer.AsSpan(0, result.Count));
                var now = Stopwatch.GetTimestamp();
                var consumed = ParseFrames(pending.WrittenSpan, now);
                var rest = pending.WrittenSpan[consumed..].ToArray();
                pending.Clear();
                pending.Write(rest);
                // The server closes a connection it has not heard from in 30 s (ClientTimeoutInterval).
                if (now - lastPing > 10 * Stopwatch.Frequency)
                {
                    lastPing = now;
                    await _socket.SendAsync(Ping, WebSocketMessageType.Text, endOfMessage: true, _stop.Token);
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException)
        {
            // Disposed, or the server went away: the tally shows what did not arrive.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Records every complete invocation frame; returns how many bytes were consumed.</summary>
    private int ParseFrames(ReadOnlySpan<byte> data, long receivedAt)
    {
        var consumed = 0;
        while (data[consumed..].IndexOf(RecordSeparator) is var end and >= 0)
        {
            var frame = data.Slice(consumed, end);
            consumed += end + 1;
            if (frame.IndexOf("\"arguments\":["u8) is var at and >= 0 && frame.IndexOf("\"target\":\"m\""u8) >= 0)
            {
                var args = frame[(at + 13)..];
                var comma = args.IndexOf((byte)',');
                var close = args.IndexOf((byte)']');
                if (comma > 0 && close > comma
                    && long.TryParse(args[..comma], out var sentAt) && long.TryParse(args[(comma + 1)..close], out var seq))
                {
                    _tally().Record(seq, sentAt, receivedAt);
                }
            }
        }
        return consumed;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _receiving;
        }
        catch (Exception)
        {
            // Already stopping.
        }
        _socket.Abort();
        _socket.Dispose();
        _stop.Dispose();
    }
}

/// <summary>
/// What every receiver of one fan-out measurement saw: each delivery's latency (receive time minus the server's send
/// timestamp: one monotonic clock on one machine) in a fixed histogram, deliveries per message, and when each
/// message's last delivery arrived (fan-out completion).
/// </summary>
public sealed class BroadcastTally(int messages)
{
    private const int BucketsPerMs = 10;
    private const int MaxMs = 60_000;
    private readonly long[] _histogram = new long[BucketsPerMs * MaxMs + 1];
    private readonly int[] _deliveries = new int[messages];
    private readonly long[] _sentAt = new long[messages];
    private readonly long[] _lastDelivery = new long[messages];
    private long _unexpected;

    public long Unexpected => Interlocked.Read(ref _unexpected);

    public void Record(long seq, long sentAt, long receivedAt)
    {
        if (seq < 0 || seq >= _deliveries.Length)
        {
            Interlocked.Increment(ref _unexpected);
            return;
        }
        var ms = (receivedAt - sentAt) * 1000.0 / Stopwatch.Frequency;
        Interlocked.Increment(ref _histogram[Math.Clamp((int)(ms * BucketsPerMs), 0, _histogram.Length - 1)]);
        Interlocked.Increment(ref _deliveries[seq]);
        Volatile.Write(ref _sentAt[seq], sentAt);
        long last;
        while ((last = Volatile.Read(ref _lastDelivery[seq])) < receivedAt && Interlocked.CompareExchange(ref _lastDelivery[seq], receivedAt, last) != last)
        {
        }
    }

    public long Delivered => _deliveries.Sum(d => (long)d);

    /// <summary>Deliveries beyond one per connection per message.</summary>
    public long Duplicates(int connections) => _deliveries.Sum(d => (long)Math.Max(0, d - connections));

    /// <summary>A latency percentile (ms) over every delivery, to 0.1 ms.</summary>
    public double Percentile(double p)
    {
        var total = _histogram.Sum();
        if (total == 0)
        {
            return double.NaN;
        }
        var rank = (long)Math.Ceiling(p / 100.0 * total);
        long seen = 0;
        for (var i = 0; i < _histogram.Length; i++)
        {
            seen += _histogram[i];
            if (seen >= rank)
            {
                return (i + 1) / (double)BucketsPerMs;
            }
        }
        return MaxMs;
    }

    /// <summary>Per message: its last delivery minus its send time (ms), for the messages every connection received.</summary>
    public double[] CompletionMs(int connections) =>
        [.. Enumerable.Range(0, _deliveries.Length).Where(i => _deliveries[i] >= connections)
            .Select(i => (_lastDelivery[i] - _sentAt[i]) * 1000.0 / Stopwatch.Frequency).Order()];
}

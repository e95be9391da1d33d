using System.Net;
using System.Net.Sockets;
using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane.Internal.Delivery;

/// <summary>
/// Wake-ups over datagram sockets: Unix domain sockets where the OS supports them (Linux, macOS), UDP on the
/// loopback interface elsewhere (Windows has no Unix datagram sockets).
/// </summary>
internal sealed class SocketWakeChannel : WakeChannel
{
    private const string UnixScheme = WakeEndpoints.UnixScheme;
    private const string UdpScheme = "udp:";

    private readonly Socket _receiver;
    private readonly Socket _sender;
    private readonly EndPoint _self;
    private readonly string? _socketPath;
    private readonly byte[] _receiveBuffer = new byte[64];
    private readonly Dictionary<string, EndPoint?> _parsed = new(StringComparer.Ordinal);
    private readonly byte[][] _signals = [[WakeSignal], [RefreshSignal]];

    private SocketWakeChannel(Socket receiver, Socket sender, EndPoint self, string endpoint, string? socketPath, string mode)
    {
        _receiver = receiver;
        _sender = sender;
        _self = self;
        Endpoint = endpoint;
        _socketPath = socketPath;
        Mode = mode;
    }

    public override string? Endpoint { get; }

    public override string Mode { get; }

    public static SocketWakeChannel Create(string nodeId)
    {
        if (!OperatingSystem.IsWindows() && Socket.OSSupportsUnixDomainSockets)
        {
            var directory = SocketDirectory.Prepare(SocketDirectory.Path());
            SocketDirectory.RemoveDeadSockets(directory);
            var path = Path.Combine(directory, SocketDirectory.SocketName(nodeId));
            var self = new UnixDomainSocketEndPoint(path);
            var receiver = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            try
            {
                receiver.Bind(self);
            }
            catch
            {
                receiver.Dispose();
                throw;
            }

            var sender = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified) { Blocking = false };
            return new SocketWakeChannel(receiver, sender, self, UnixScheme + path, path, "unix datagram socket");
        }

        var udpReceiver = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        udpReceiver.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var udpSelf = udpReceiver.LocalEndPoint!;
        var udpSender = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { Blocking = false };
        return new SocketWakeChannel(udpReceiver, udpSender, udpSelf, UdpScheme + ((IPEndPoint)udpSelf).Port, null, "udp loopback");
    }

    public override bool Wait(TimeSpan timeout)
    {
        try
        {
            if (!_receiver.Poll(timeout, SelectMode.SelectRead))
            {
                return false;
            }

            // Drain everything pending: one read of the log answers all of them.
            while (_receiver.Available > 0)
            {
                var received = _receiver.Receive(_receiveBuffer);
                if (received > 0 && _receiveBuffer[0] == RefreshSignal)
                {
                    RefreshRequested = true;
                }
            }

            return true;
        }
        catch (ObjectDisposedException)
        {
            return true;
        }
        catch (SocketException)
        {
            // A broken socket must not spin the reader: fall back to a plain sleep of one poll interval.
            Thread.Sleep(timeout);
            return true;
        }
    }

    public override void WakeLocal() => Send(_self, WakeSignal);

    public override void Notify(IReadOnlyList<string> endpoints, byte signal)
    {
        foreach (var endpoint in endpoints)
        {
            if (!_parsed.TryGetValue(endpoint, out var parsed))
            {
                parsed = Parse(endpoint);
                _parsed[endpoint] = parsed;
            }

            if (parsed is not null)
            {
                Send(parsed, signal);
            }
        }
    }

    private void Send(EndPoint target, byte signal)
    {
        try
        {
            _sender.SendTo(signal == WakeSignal ? _signals[0] : _signals[1], target);
        }
        catch (SocketException ex)
        {
            // The target is gone or its buffer is full (then it is awake anyway); the safety poll covers the rest.
            if (ex.SocketErrorCode is not (SocketError.WouldBlock or SocketError.NoBufferSpaceAvailable) && target != _self)
            {
                PeerUnreachable?.Invoke();
            }
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private static EndPoint? Parse(string endpoint)
    {
        if (endpoint.StartsWith(UnixScheme, StringComparison.Ordinal) && Socket.OSSupportsUnixDomainSockets && !OperatingSystem.IsWindows())
        {
            return new UnixDomainSocketEndPoint(endpoint[UnixScheme.Length..]);
        }

        if (endpoint.StartsWith(UdpScheme, StringComparison.Ordinal) && int.TryParse(endpoint.AsSpan(UdpScheme.Length), out var port))
        {
            return new IPEndPoint(IPAddress.Loopback, port);
        }

        return null;
    }

    public override void Dispose()
    {
        _receiver.Dispose();
        _sender.Dispose();
        if (_socketPath is not null)
        {
            try
            {
                File.Delete(_socketPath);
            }
            catch (IOException)
            {
            }
        }
    }
}

using System.Net;
using System.Net.Sockets;

namespace SqliteBackplane.Internal.Delivery;

/// <summary>
/// How a reader sleeps and is woken. A commit wakes the local reader at once; with cross-process wake-ups, the
/// writer also sends a one-byte datagram to every other node's registered endpoint. Readers still poll every
/// SafetyPollInterval, so a lost datagram costs at most one poll.
/// </summary>
internal abstract class WakeChannel : IDisposable
{
    public const byte WakeSignal = (byte)'W';
    public const byte RefreshSignal = (byte)'R';

    /// <summary>The address other nodes send to, stored in the nodes table; null when this node cannot be woken remotely.</summary>
    public abstract string? Endpoint { get; }

    public abstract string Mode { get; }

    /// <summary>Set when another node announced itself, so the writer should reload the endpoint list.</summary>
    public bool RefreshRequested;

    /// <summary>Blocks until woken or until the timeout passes; false on a timeout. Called only by the reader thread.</summary>
    public abstract bool Wait(TimeSpan timeout);

    public abstract void WakeLocal();

    /// <summary>Sends <paramref name="signal"/> to each endpoint; never blocks and never throws.</summary>
    public abstract void Notify(IReadOnlyList<string> endpoints, byte signal);

    public abstract void Dispose();

    public static WakeChannel Create(bool crossProcess, string nodeId, out string? unavailableReason)
    {
        unavailableReason = null;
        if (!crossProcess)
        {
            return new LocalWakeChannel();
        }

        try
        {
            return SocketWakeChannel.Create(nodeId);
        }
        catch (Exception ex) when (ex is SocketException or IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            unavailableReason = ex.Message;
            return new LocalWakeChannel();
        }
    }
}

/// <summary>In-process wake-ups only: other processes' rows are found by the safety poll.</summary>
internal sealed class LocalWakeChannel : WakeChannel
{
    private readonly SemaphoreSlim _signal = new(0, 1);

    public override string? Endpoint => null;

    public override string Mode => "safety poll only";

    public override bool Wait(TimeSpan timeout) => _signal.Wait(timeout);

    public override void WakeLocal()
    {
        try
        {
            _signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled; one pending wake-up is enough.
        }
    }

    public override void Notify(IReadOnlyList<string> endpoints, byte signal)
    {
    }

    public override void Dispose() => _signal.Dispose();
}

/// <summary>
/// Wake-ups over datagram sockets: Unix domain sockets where the OS supports them (Linux, macOS), UDP on the
/// loopback interface elsewhere (Windows has no Unix datagram sockets).
/// </summary>
internal sealed class SocketWakeChannel : WakeChannel
{
    private const string UnixScheme = "unix:";
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
            var directory = Path.Combine(Path.GetTempPath(), "sqlite-backplane");
            Directory.CreateDirectory(directory);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }

            var path = Path.Combine(directory, nodeId + ".sock");
            var self = new UnixDomainSocketEndPoint(path);
            var receiver = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            receiver.Bind(self);
            var sender = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified) { Blocking = false };
            return new SocketWakeChannel(receiver, sender, self, UnixScheme + path, path, "unix datagram socket");
        }

        var udpReceiver = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        udpReceiver.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var udpSelf = udpReceiver.LocalEndPoint!;
        var udpSender = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { Blocking = false };
        return new SocketWakeChannel(udpReceiver, udpSender, udpSelf, UdpScheme + ((IPEndPoint)udpSelf).Port, null, "udp loopback");
    }

    /// <summary>Deletes the socket file a dead node on this machine left behind.</summary>
    public static void DeleteStaleEndpoint(string? endpoint)
    {
        if (endpoint is not null && endpoint.StartsWith(UnixScheme, StringComparison.Ordinal))
        {
            try
            {
                File.Delete(endpoint[UnixScheme.Length..]);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Best effort: another machine's path, or already gone.
            }
        }
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
        catch (SocketException)
        {
            // The target is gone or its buffer is full (then it is awake anyway); the safety poll covers the rest.
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

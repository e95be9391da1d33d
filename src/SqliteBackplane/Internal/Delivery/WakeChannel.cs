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
        catch (Exception ex) when (ex is SocketException or IOException or UnauthorizedAccessException or PlatformNotSupportedException
            or DllNotFoundException or EntryPointNotFoundException)
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

    /// <summary>
    /// Deletes the socket file a reaped node on this machine left behind, when that file is a node's socket in this
    /// user's socket directory and nobody is bound to it any more. Any other path a node row names (a row can be written
    /// by anyone who can write the database) is left alone.
    /// </summary>
    public static void DeleteStaleEndpoint(string? endpoint)
    {
        if (endpoint is null || !endpoint.StartsWith(UnixScheme, StringComparison.Ordinal) || OperatingSystem.IsWindows())
        {
            return;
        }

        var path = endpoint[UnixScheme.Length..];
        if (!Path.IsPathFullyQualified(path) || !SocketDirectory.IsNodeSocketName(Path.GetFileName(path))
            || !string.Equals(Path.GetDirectoryName(path), SocketDirectory.Path(), StringComparison.Ordinal))
        {
            return;
        }

        SocketDirectory.DeleteIfDead(path);
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

/// <summary>
/// Where this OS user's wake sockets live: <c>$XDG_RUNTIME_DIR/sqlite-backplane</c>, else
/// <c>sqlite-backplane-&lt;uid&gt;</c> under the temp path. Private (mode 0700), owned by this user and not a symbolic
/// link, or not used at all. Holds only sockets named after node ids, and removes those whose process is gone.
/// </summary>
internal static class SocketDirectory
{
    private const string SocketSuffix = ".sock";

    // File type bits of st_mode.
    private const int TypeMask = 0xF000;
    private const int TypeDirectory = 0x4000;
    private const int TypeSocket = 0xC000;
    private const int GroupAndOtherBits = 0x3F;

    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public static string Path()
    {
        var runtimeDirectory = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
        return !string.IsNullOrEmpty(runtimeDirectory) && System.IO.Path.IsPathFullyQualified(runtimeDirectory)
            ? System.IO.Path.Combine(runtimeDirectory, "sqlite-backplane")
            : System.IO.Path.Combine(System.IO.Path.GetTempPath(), "sqlite-backplane-" + GetEffectiveUserId().ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    public static string SocketName(string nodeId) => nodeId + SocketSuffix;

    /// <summary>A node id (32 lowercase hex digits) followed by ".sock".</summary>
    public static bool IsNodeSocketName(string fileName) =>
        fileName.Length == 32 + SocketSuffix.Length && fileName.EndsWith(SocketSuffix, StringComparison.Ordinal)
        && !fileName.AsSpan(0, 32).ContainsAnyExcept("0123456789abcdef");

    /// <summary>Creates the directory <paramref name="path"/> (0700) or checks the one found; throws <see cref="IOException"/> saying why it cannot be used.</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public static string Prepare(string path)
    {
        if (!Directory.Exists(path))
        {
            Directory.CreateDirectory(path, OwnerOnly);
        }

        var uid = GetEffectiveUserId();
        if (!TryGetStatus(path, out var mode, out var owner))
        {
            throw new IOException($"the socket directory '{path}' cannot be examined");
        }

        if ((mode & TypeMask) != TypeDirectory)
        {
            throw new IOException($"'{path}' is not a directory (a symbolic link or another file is in its place); remove it");
        }

        if (owner != uid)
        {
            throw new IOException($"the socket directory '{path}' belongs to user id {owner}, not to this process's user id {uid}; remove it or set XDG_RUNTIME_DIR");
        }

        if ((mode & GroupAndOtherBits) != 0)
        {
            File.SetUnixFileMode(path, OwnerOnly);
        }

        return path;
    }

    /// <summary>Removes the sockets in <paramref name="directory"/> whose process is gone (a kill -9 leaves them behind).</summary>
    public static void RemoveDeadSockets(string directory)
    {
        foreach (var path in Directory.EnumerateFiles(directory, "*" + SocketSuffix))
        {
            if (IsNodeSocketName(System.IO.Path.GetFileName(path)))
            {
                DeleteIfDead(path);
            }
        }
    }

    /// <summary>
    /// Deletes <paramref name="path"/> when it is a socket of this user that nobody is bound to: a datagram connect to
    /// it is refused once its process is gone, whatever the database says.
    /// </summary>
    public static void DeleteIfDead(string path)
    {
        if (!TryGetStatus(path, out var mode, out var owner) || (mode & TypeMask) != TypeSocket || owner != GetEffectiveUserId())
        {
            return;
        }

        using (var probe = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified))
        {
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
                return;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
            {
                // Nobody is bound: the process that created it is gone.
            }
            catch (SocketException)
            {
                return;
            }
        }

        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: already gone, or another process removed it first.
        }
    }

    // lstat through the runtime's own native shim, whose FileStatus layout is the same on every Unix .NET runs on
    // (Flags, Mode, Uid, Gid, ...), unlike struct stat.
    private static bool TryGetStatus(string path, out int mode, out uint owner)
    {
        var status = new byte[256];
        try
        {
            if (LStat(path, status) != 0)
            {
                mode = 0;
                owner = 0;
                return false;
            }
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            mode = 0;
            owner = 0;
            return false;
        }

        mode = BitConverter.ToInt32(status, 4);
        owner = BitConverter.ToUInt32(status, 8);
        return true;
    }

    private static uint GetEffectiveUserId() => GetEuid();

    [System.Runtime.InteropServices.DllImport("libSystem.Native", EntryPoint = "SystemNative_LStat", SetLastError = true)]
    private static extern int LStat(string path, byte[] status);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEuid();
}

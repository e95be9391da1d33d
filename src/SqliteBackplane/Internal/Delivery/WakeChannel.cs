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

    /// <summary>
    /// Called (on the sending thread) when a datagram to another node was refused: on Linux and macOS a Unix socket
    /// nobody is bound to refuses at once, so its process may have died.
    /// </summary>
    public Action? PeerUnreachable { get; set; }

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

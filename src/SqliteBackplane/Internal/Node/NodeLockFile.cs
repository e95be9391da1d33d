using System.Runtime.InteropServices;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Internal.Interop;

namespace SqliteBackplane.Internal.Node;

/// <summary>
/// Crash detection through the kernel (Linux, macOS, FreeBSD): every node holds an exclusive <c>flock(2)</c> on
/// <c>&lt;node id&gt;.lock</c> in this user's socket directory for its whole life. The kernel releases it the moment the
/// process dies, however it dies, so another node on this machine that takes the lock without waiting knows the holder
/// is gone. A node whose lock file is not in this directory (another machine, another OS user, Windows) cannot be
/// probed; heartbeats cover it.
/// </summary>
internal sealed class NodeLockFile : IDisposable
{
    private const string Suffix = ".lock";
    private const int OwnerReadWrite = 0b110_000_000;

    // A lock file this young may belong to a node between creating it and locking it: never removed as dead.
    private static readonly TimeSpan MinimumAgeForCleanup = TimeSpan.FromSeconds(10);

    private readonly string _path;
    private int _fd;

    private NodeLockFile(string path, int fd)
    {
        _path = path;
        _fd = fd;
    }

    /// <summary>What a probe of another node's lock file found.</summary>
    public enum ProbeResult
    {
        /// <summary>No lock file of that node here (another machine or user, not started, or already removed).</summary>
        Unknown,

        /// <summary>The node's process holds its lock: it is alive.</summary>
        Alive,

        /// <summary>Nobody holds the lock: the node's process is gone.</summary>
        Dead,
    }

    /// <summary>
    /// Creates and locks this node's lock file, first removing lock files of dead nodes. Returns null on Windows
    /// (heartbeats only) and when the directory or the lock cannot be had (<paramref name="unavailableReason"/> says why).
    /// </summary>
    public static NodeLockFile? TryHold(string nodeId, out string? unavailableReason)
    {
        unavailableReason = null;
        if (!(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD()))
        {
            return null;
        }

        try
        {
            var directory = SocketDirectory.Prepare(SocketDirectory.Path());
            RemoveDeadLockFiles(directory);
            var path = System.IO.Path.Combine(directory, nodeId + Suffix);
            var fd = Libc.Open(path, Libc.OpenFlags(create: true), OwnerReadWrite);
            if (fd < 0)
            {
                unavailableReason = $"cannot create '{path}': {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}";
                return null;
            }

            if (Libc.Flock(fd, Libc.LockExclusive | Libc.LockNonBlocking) != 0)
            {
                unavailableReason = $"cannot lock '{path}': {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}";
                Libc.Close(fd);
                return null;
            }

            return new NodeLockFile(path, fd);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or DllNotFoundException or EntryPointNotFoundException)
        {
            unavailableReason = ex.Message;
            return null;
        }
    }

    /// <summary>
    /// Tries <paramref name="nodeId"/>'s lock without waiting, and releases it at once when it was free. Never blocks,
    /// never throws; a node id that is not one (a forged row) is <see cref="ProbeResult.Unknown"/>.
    /// </summary>
    public static ProbeResult Probe(string nodeId)
    {
        if (!SocketDirectory.IsNodeId(nodeId))
        {
            return ProbeResult.Unknown;
        }

        try
        {
            return ProbePath(System.IO.Path.Combine(SocketDirectory.Path(), nodeId + Suffix));
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return ProbeResult.Unknown;
        }
    }

    /// <summary>Deletes <paramref name="nodeId"/>'s lock file when its holder is gone (after its node was removed).</summary>
    public static void DeleteIfDead(string nodeId)
    {
        if (Probe(nodeId) == ProbeResult.Dead)
        {
            TryDelete(System.IO.Path.Combine(SocketDirectory.Path(), nodeId + Suffix));
        }
    }

    private static ProbeResult ProbePath(string path)
    {
        var fd = Libc.Open(path, Libc.OpenFlags(create: false));
        if (fd < 0)
        {
            return ProbeResult.Unknown;
        }

        try
        {
            if (Libc.Flock(fd, Libc.LockExclusive | Libc.LockNonBlocking) == 0)
            {
                Libc.Flock(fd, Libc.LockUnlock);
                return ProbeResult.Dead;
            }

            return Libc.IsWouldBlock(Marshal.GetLastPInvokeError()) ? ProbeResult.Alive : ProbeResult.Unknown;
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    // A kill -9 leaves the lock file behind; whoever starts next removes those whose holder is gone.
    private static void RemoveDeadLockFiles(string directory)
    {
        foreach (var path in Directory.EnumerateFiles(directory, "*" + Suffix))
        {
            if (SocketDirectory.IsNodeFileName(System.IO.Path.GetFileName(path), Suffix)
                && DateTime.UtcNow - File.GetLastWriteTimeUtc(path) > MinimumAgeForCleanup
                && ProbePath(path) == ProbeResult.Dead)
            {
                TryDelete(path);
            }
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: another process removed it first.
        }
    }

    /// <summary>Releases the lock and removes the file (graceful stop; the node's rows are already gone).</summary>
    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd < 0)
        {
            return;
        }

        TryDelete(_path);
        Libc.Close(fd);
    }
}

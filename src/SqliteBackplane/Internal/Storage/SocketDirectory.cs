using System.Net.Sockets;
using SqliteBackplane.Internal.Interop;

namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// Where this OS user's wake sockets live: <c>$XDG_RUNTIME_DIR/sqlite-backplane</c>, else
/// <c>sqlite-backplane-&lt;uid&gt;</c> under the temp path. Private (mode 0700), owned by this user and not a symbolic
/// link, or not used at all. Holds only files named after node ids: each node's wake socket (<c>&lt;node id&gt;.sock</c>)
/// and the lock file it holds for its whole life (<c>&lt;node id&gt;.lock</c>, see <c>Node/NodeLockFile</c>), and
/// removes those whose process is gone. On disk beside the backplane file's lock, like it: the wake channel binds its
/// socket here, and whoever removes a dead node's rows removes its socket (<see cref="WakeEndpoints.DeleteStale"/>).
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
    public static bool IsNodeSocketName(string fileName) => IsNodeFileName(fileName, SocketSuffix);

    /// <summary>A node id (32 lowercase hex digits) followed by <paramref name="suffix"/>.</summary>
    public static bool IsNodeFileName(string fileName, string suffix) =>
        fileName.Length == 32 + suffix.Length && fileName.EndsWith(suffix, StringComparison.Ordinal) && IsNodeId(fileName[..32]);

    /// <summary>
    /// Whether <paramref name="nodeId"/> has the form of a node id (32 lowercase hex digits), so a file name built from
    /// it stays inside this directory whatever a node row says.
    /// </summary>
    public static bool IsNodeId(string nodeId) => nodeId.Length == 32 && !nodeId.AsSpan().ContainsAnyExcept("0123456789abcdef");

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
            if (Libc.RuntimeLStat(path, status) != 0)
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

    private static uint GetEffectiveUserId() => Libc.GetEffectiveUserId();
}

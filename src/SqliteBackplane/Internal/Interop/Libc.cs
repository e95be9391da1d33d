using System.Runtime.InteropServices;

namespace SqliteBackplane.Internal.Interop;

/// <summary>The C library calls the backplane makes on Linux, macOS and FreeBSD.</summary>
internal static class Libc
{
    private const string Library = "libc";

    public const int Eperm = 1;
    public const int Eintr = 4;
    public const int Ewouldblock = 11;
    public const int Eacces = 13;
    public const int Erofs = 30;
    public const int EwouldblockMac = 35;

    public const int OpenWriteOnly = 1;
    public const int OpenReadWrite = 2;
    public const int OpenCreateLinux = 0x40;
    public const int OpenCloseOnExecLinux = 0x80000;
    public const int OpenCreateBsd = 0x200;
    public const int OpenCloseOnExecBsd = 0x1000000;

    /// <summary>open(2) flags for reading and writing, close-on-exec, and <paramref name="create"/>, on this OS.</summary>
    public static int OpenFlags(bool create) =>
        OpenReadWrite | (OperatingSystem.IsLinux()
            ? OpenCloseOnExecLinux | (create ? OpenCreateLinux : 0)
            : OpenCloseOnExecBsd | (create ? OpenCreateBsd : 0));

    /// <summary>Whether <paramref name="error"/> (errno) says a non-blocking lock is held by someone else.</summary>
    public static bool IsWouldBlock(int error) => error == Ewouldblock || error == EwouldblockMac;

    public const int LockExclusive = 2;
    public const int LockNonBlocking = 4;
    public const int LockUnlock = 8;

    // DllImport, not LibraryImport: the LibraryImport generator emits unsafe code, which this assembly does not allow
    // (AllowUnsafeBlocks is false on purpose).
    [DllImport(Library, EntryPoint = "open", SetLastError = true)]
    public static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode = 0);

    [DllImport(Library, EntryPoint = "close", SetLastError = true)]
    public static extern int Close(int fd);

    [DllImport(Library, EntryPoint = "flock", SetLastError = true)]
    public static extern int Flock(int fd, int operation);

    [DllImport(Library, EntryPoint = "geteuid")]
    public static extern uint GetEffectiveUserId();

    /// <summary>
    /// lstat through the .NET runtime's own native shim (not libc): its FileStatus layout (Flags, Mode, Uid, Gid, ...)
    /// is the same on every Unix .NET runs on, unlike struct stat. .NET has no managed API for a file's owner.
    /// </summary>
    [DllImport("libSystem.Native", EntryPoint = "SystemNative_LStat", SetLastError = true)]
    public static extern int RuntimeLStat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte[] status);
}

using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;

namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// The few native SQLite calls that Microsoft.Data.Sqlite does not expose. SQLite's own busy timeout sleeps in steps of
/// up to 100 ms (measured: a lock released after 50 ms is taken 6-16 ms late; docs/architecture.md), so the backplane
/// installs a busy handler that waits in sub-millisecond steps.
/// </summary>
internal static class SqliteNative
{
    private const string Library = "e_sqlite3";

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int BusyCallback(IntPtr state, int attempt);

    // Kept in a static field so the delegate is never collected while native code holds its pointer.
    private static readonly BusyCallback s_busyCallback = OnBusy;
    private static readonly IntPtr s_busyCallbackPointer = Marshal.GetFunctionPointerForDelegate(s_busyCallback);

    [ThreadStatic]
    private static long t_busySince;

    private const int Eperm = 1;
    private const int Eacces = 13;
    private const int Erofs = 30;
    private const int OpenWriteOnly = 1;

    /// <summary>
    /// Whether the OS refuses to write the database or its WAL (permissions, an immutable file, a read-only mount).
    /// SQLite reports that as a generic I/O error and keeps no usable errno, so this asks the OS directly.
    /// </summary>
    public static bool IsWriteRefused(string databasePath)
    {
        if (OperatingSystem.IsWindows())
        {
            return false;
        }

        foreach (var path in new[] { databasePath, databasePath + "-wal" })
        {
            if (!File.Exists(path))
            {
                continue;
            }

            var fd = OpenFile(path, OpenWriteOnly);
            if (fd >= 0)
            {
                CloseFile(fd);
                continue;
            }

            if (Marshal.GetLastPInvokeError() is Eperm or Eacces or Erofs)
            {
                return true;
            }
        }

        return false;
    }

    private const int FileControlHasMoved = 20;

    /// <summary>
    /// Whether the file this connection has open is no longer the one at its path (deleted, or replaced by another
    /// file): SQLITE_FCNTL_HAS_MOVED, one stat(2) call.
    /// </summary>
    public static bool HasMoved(SqliteConnection connection)
    {
        var handle = connection.Handle;
        if (handle is null || handle.IsInvalid)
        {
            return false;
        }

        try
        {
            var moved = 0;
            return FileControl(handle.DangerousGetHandle(), "main", FileControlHasMoved, ref moved) == 0 && moved != 0;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [DllImport(Library, CallingConvention = CallingConvention.Cdecl, EntryPoint = "sqlite3_file_control")]
    private static extern int FileControl(IntPtr db, [MarshalAs(UnmanagedType.LPUTF8Str)] string databaseName, int operation, ref int argument);

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int OpenFile([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "close")]
    private static extern int CloseFile(int fd);

    [DllImport(Library, CallingConvention = CallingConvention.Cdecl, EntryPoint = "sqlite3_busy_handler")]
    private static extern int BusyHandler(IntPtr db, IntPtr callback, IntPtr state);

    /// <summary>
    /// Installs the fine-grained busy handler on an open connection. Returns false when the native library is not
    /// e_sqlite3 (another SQLitePCLRaw provider), in which case SQLite's own handling stays in place.
    /// </summary>
    public static bool TryInstallBusyHandler(SqliteConnection connection, TimeSpan timeout)
    {
        var handle = connection.Handle;
        if (handle is null)
        {
            return false;
        }

        try
        {
            var timeoutMs = (IntPtr)Math.Max(1, (long)timeout.TotalMilliseconds);
            return BusyHandler(handle.DangerousGetHandle(), s_busyCallbackPointer, timeoutMs) == 0;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            return false;
        }
    }

    // Called by SQLite on the thread that hit the lock. Returning non-zero retries; zero gives up with SQLITE_BUSY.
    private static int OnBusy(IntPtr state, int attempt)
    {
        var now = Stopwatch.GetTimestamp();
        if (attempt == 0)
        {
            t_busySince = now;
        }

        var waitedMs = Stopwatch.GetElapsedTime(t_busySince, now).TotalMilliseconds;
        if (waitedMs >= (long)state)
        {
            return 0;
        }

        if (attempt < 16)
        {
            // Most lock holders finish within microseconds: yield first, then sleep in short steps.
            Thread.Yield();
        }
        else
        {
            NativeSleep.Microseconds(attempt < 200 ? 100 : 1000);
        }

        return 1;
    }
}

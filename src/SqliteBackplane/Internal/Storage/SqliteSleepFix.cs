using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// SQLite builds without HAVE_USLEEP (the bundled e_sqlite3 2.0.6 is one) round every sleep up to whole seconds.
/// The backplane's own lock waits avoid SQLite's sleeps, but one remains inside SQLite: a reader retrying while the
/// WAL index changes under it. This replaces the sleep function of the default "unix" VFS with one that sleeps the
/// requested microseconds, once per process, and logs once when the original turned out to be the slow kind.
/// Only on 64-bit Unix with e_sqlite3 and a VFS that looks as expected; anything else is left alone.
/// </summary>
internal static class SqliteSleepFix
{
    private const string Library = "e_sqlite3";

    // struct sqlite3_vfs on LP64: three ints (12 bytes, padded to 16), then pNext, zName, pAppData and ten function
    // pointers up to xSleep: 16 + 12 * 8.
    private const int NameOffset = 24;
    private const int SleepOffset = 112;

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int SleepFunction(IntPtr vfs, int microseconds);

    // Kept alive for the life of the process: native code holds its pointer.
    private static readonly SleepFunction s_sleep = Sleep;
    private static int s_applied;

    public static void Apply(ILogger logger)
    {
        if (Interlocked.Exchange(ref s_applied, 1) != 0 || IntPtr.Size != 8 || OperatingSystem.IsWindows())
        {
            return;
        }

        IntPtr vfs;
        try
        {
            vfs = VfsFind(IntPtr.Zero);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return;
        }

        if (vfs == IntPtr.Zero || Marshal.ReadInt32(vfs) < 1 || Marshal.PtrToStringUTF8(Marshal.ReadIntPtr(vfs, NameOffset)) != "unix")
        {
            return;
        }

        var original = Marshal.ReadIntPtr(vfs, SleepOffset);
        if (original == IntPtr.Zero)
        {
            return;
        }

        Marshal.WriteIntPtr(vfs, SleepOffset, Marshal.GetFunctionPointerForDelegate(s_sleep));

        // Find out whether the original was the slow kind, off every caller's path: on such builds this takes a second.
        var probe = new Thread(() =>
        {
            var sleep = Marshal.GetDelegateForFunctionPointer<SleepFunction>(original);
            var started = Stopwatch.GetTimestamp();
            var reported = sleep(vfs, 1);
            if (reported >= 1_000_000 || Stopwatch.GetElapsedTime(started) >= TimeSpan.FromMilliseconds(500))
            {
                BackplaneLog.SlowSleepBuildDetected(logger);
            }
        })
        { IsBackground = true, Name = "SqliteBP sleep" };
        probe.Start();
    }

    /// <summary>sqlite3_sleep, for tests: returns the milliseconds SQLite reports it slept.</summary>
    public static int SqliteSleep(int milliseconds) => SqliteSleepNative(milliseconds);

    private static int Sleep(IntPtr vfs, int microseconds)
    {
        if (microseconds <= 0)
        {
            Thread.Yield();
            return 0;
        }

        if (microseconds >= 1_000_000)
        {
            Thread.Sleep(microseconds / 1000);
        }
        else
        {
            NativeSleep.Microseconds(microseconds);
        }

        return microseconds;
    }

    [DllImport(Library, CallingConvention = CallingConvention.Cdecl, EntryPoint = "sqlite3_vfs_find")]
    private static extern IntPtr VfsFind(IntPtr name);

    [DllImport(Library, CallingConvention = CallingConvention.Cdecl, EntryPoint = "sqlite3_sleep")]
    private static extern int SqliteSleepNative(int milliseconds);
}

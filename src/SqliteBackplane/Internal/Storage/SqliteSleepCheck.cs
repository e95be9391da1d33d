using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using SQLitePCL;
using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// Detects a SQLite build that sleeps whole seconds whenever it waits (built without HAVE_USLEEP and without
/// nanosleep, as the e_sqlite3 of SQLitePCLRaw 2.0.x was), and logs once per process what to reference instead.
/// It never changes the native library: that would affect every SQLite user in the process.
/// </summary>
internal static class SqliteSleepCheck
{
    /// <summary>A good build sleeps about 1 ms for <c>sqlite3_sleep(1)</c>; the slow kind sleeps and reports 1000 ms.</summary>
    private static readonly TimeSpan SlowThreshold = TimeSpan.FromMilliseconds(500);

    private static int s_checked;

    /// <summary>Checks once per process, off the caller's path: on the slow kind the probe itself takes a second.</summary>
    public static void CheckOnce(ILogger logger)
    {
        if (Interlocked.Exchange(ref s_checked, 1) != 0)
        {
            return;
        }

        var probe = new Thread(() =>
        {
            try
            {
                var started = Stopwatch.GetTimestamp();
                var reported = Sleep(1);
                if (SleepsWholeSeconds(reported, Stopwatch.GetElapsedTime(started)))
                {
                    BackplaneEvents.SlowSleepBuildDetected(logger, raw.sqlite3_libversion().utf8_to_string());
                }
            }
            catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
            {
                // Another SQLitePCLRaw provider than e_sqlite3: not checked.
            }
        })
        { IsBackground = true, Name = "SqliteBP sleep check" };
        probe.Start();
    }

    /// <summary>
    /// Whether a build sleeps whole seconds, from what <c>sqlite3_sleep(1)</c> returned (the milliseconds SQLite says
    /// it slept) and how long the call took.
    /// </summary>
    public static bool SleepsWholeSeconds(int reportedMilliseconds, TimeSpan elapsed) =>
        reportedMilliseconds >= 1000 || elapsed >= SlowThreshold;

    /// <summary>sqlite3_sleep of the bundled e_sqlite3 (SQLitePCLRaw does not expose it).</summary>
    [DllImport("e_sqlite3", CallingConvention = CallingConvention.Cdecl, EntryPoint = "sqlite3_sleep")]
    internal static extern int Sleep(int milliseconds);
}

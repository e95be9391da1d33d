using System.Runtime.InteropServices;

namespace SqliteBackplane.Internal.Storage;

/// <summary>Short sleeps for lock waits: Thread.Sleep cannot sleep less than a millisecond.</summary>
internal static class NativeSleep
{
    private static readonly bool s_hasUsleep = !OperatingSystem.IsWindows() && Probe();

    /// <summary>Sleeps about <paramref name="microseconds"/> where the OS allows it, else one millisecond.</summary>
    public static void Microseconds(int microseconds)
    {
        if (s_hasUsleep)
        {
            Usleep((uint)microseconds);
        }
        else
        {
            Thread.Sleep(1);
        }
    }

    private static bool Probe()
    {
        try
        {
            Usleep(0);
            return true;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libc", EntryPoint = "usleep")]
    private static extern int Usleep(uint microseconds);
}

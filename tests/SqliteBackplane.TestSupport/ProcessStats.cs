using System.Diagnostics;
using System.Globalization;

namespace SqliteBackplane.TestSupport;

/// <summary>A process's resident memory and CPU time, read from /proc on Linux as <c>ps</c> would (elsewhere from <see cref="Process"/>).</summary>
public static class ProcessStats
{
    /// <summary>Resident set size in bytes (VmRSS).</summary>
    public static long RssBytes(int processId)
    {
        if (!OperatingSystem.IsLinux())
        {
            using var process = Process.GetProcessById(processId);
            return process.WorkingSet64;
        }

        foreach (var line in File.ReadLines($"/proc/{processId}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                var kilobytes = line["VmRSS:".Length..].Trim().Split(' ')[0];
                return long.Parse(kilobytes, CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException($"/proc/{processId}/status has no VmRSS line.");
    }

    /// <summary>User plus system CPU time so far, in clock ticks (1/100 s).</summary>
    public static long CpuTicks(int processId)
    {
        if (!OperatingSystem.IsLinux())
        {
            using var process = Process.GetProcessById(processId);
            return (long)(process.TotalProcessorTime.TotalSeconds * 100);
        }

        var stat = File.ReadAllText($"/proc/{processId}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // After "pid (comm) ": state is field 3, utime field 14, stime field 15.
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }
}

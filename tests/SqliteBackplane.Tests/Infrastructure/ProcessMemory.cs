using System.Globalization;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>Reads a process's resident memory from /proc, as <c>ps</c> would.</summary>
internal static class ProcessMemory
{
    public static long WorkingSetBytes(int processId)
    {
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
}

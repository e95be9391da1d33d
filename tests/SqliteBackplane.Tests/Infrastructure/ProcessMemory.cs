using SqliteBackplane.TestSupport;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>Reads a process's resident memory from /proc, as <c>ps</c> would (the shared <see cref="ProcessStats"/>).</summary>
internal static class ProcessMemory
{
    public static long WorkingSetBytes(int processId) => ProcessStats.RssBytes(processId);
}

using Xunit;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// A fact that needs root and permission to mount file systems (tmpfs). On a machine without them it is skipped at
/// discovery time, so the runner reports it as skipped with the reason, never as a silent pass.
/// </summary>
public sealed class MountFactAttribute : FactAttribute
{
    public MountFactAttribute()
    {
        if (Tmpfs.UnavailableReason is { } reason)
        {
            Skip = reason;
        }
    }
}

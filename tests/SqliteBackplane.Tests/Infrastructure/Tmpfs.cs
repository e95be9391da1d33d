using System.Globalization;
using Microsoft.Data.Sqlite;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>A small tmpfs mounted for one test (needs root), so a test can fill the disk without touching the machine's.</summary>
public sealed class Tmpfs : IDisposable
{
    private static readonly Lazy<string?> s_unavailable = new(Probe);

    private Tmpfs(string directory)
    {
        Directory = directory;
    }

    /// <summary>Why tmpfs tests cannot run here, or null when they can.</summary>
    public static string? UnavailableReason => s_unavailable.Value;

    /// <summary>The mount point.</summary>
    public string Directory { get; }

    public static Tmpfs Mount(long sizeBytes)
    {
        var directory = Path.Combine(Path.GetTempPath(), "sqlitebackplane-tmpfs", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        Shell.Run("mount", "-t", "tmpfs", "-o", $"size={sizeBytes.ToString(CultureInfo.InvariantCulture)},mode=0700", "tmpfs", directory);
        return new Tmpfs(directory);
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        // Lazy: a server process may still hold files open for a moment after being killed.
        Shell.TryRun("umount", "-l", Directory);
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "needs Linux tmpfs (mount -t tmpfs)";
        }

        if (Environment.UserName != "root" && Environment.GetEnvironmentVariable("USER") != "root")
        {
            return $"needs root to mount a small tmpfs for the full-disk test (running as '{Environment.UserName}')";
        }

        try
        {
            using var probe = Mount(1024 * 1024);
            File.WriteAllText(Path.Combine(probe.Directory, "probe"), "ok");
            return null;
        }
        catch (Exception ex)
        {
            return $"cannot mount a tmpfs here ({ex.Message.Split('\n')[0].Trim()}); a container without CAP_SYS_ADMIN, for example";
        }
    }
}

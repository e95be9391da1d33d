using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.InteropServices;
using SqliteBackplane.Internal.Interop;

namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// An exclusive operating-system lock that every backplane writer on the file takes around its write transaction,
/// so that SQLite itself never waits for its write lock (and never falls into its coarse busy sleeps). On Linux and
/// macOS it is <c>flock(2)</c> on a sibling file <c>&lt;database&gt;-backplane.lock</c>: a blocking wait in the kernel,
/// released by the kernel if the process dies. Elsewhere a named mutex serves the same purpose.
/// Not thread-safe: one writer thread owns it.
/// </summary>
internal sealed class CrossProcessWriteLock : IDisposable
{
    private const int MaxPollMicroseconds = 200;

    private int _fd = -1;
    private readonly Mutex? _mutex;

    public CrossProcessWriteLock(string databasePath)
    {
        LockFilePath = databasePath + "-backplane.lock";
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())
        {
            // Not FileStream: on Unix it takes a flock of its own to emulate FileShare, which collides with ours.
            _fd = Libc.Open(LockFilePath, Libc.OpenFlags(create: true), 0b110_000_000);
            if (_fd < 0)
            {
                var error = Marshal.GetLastPInvokeError();
                throw new IOException($"Cannot open the backplane lock file '{LockFilePath}': {Marshal.GetPInvokeErrorMessage(error)}. " +
                    "The backplane needs to create and write this file next to the database.");
            }
        }
        else
        {
            var name = "Global\\SqliteBackplane-" + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(
                System.Text.Encoding.UTF8.GetBytes(databasePath.ToUpperInvariant())))[..32];
            _mutex = new Mutex(initiallyOwned: false, name);
        }
    }

    public string LockFilePath { get; }

    /// <summary>Takes the lock, waiting at most <paramref name="timeout"/>. Returns false on timeout.</summary>
    public bool TryEnter(TimeSpan timeout)
    {
        if (_mutex is not null)
        {
            try
            {
                return _mutex.WaitOne(timeout);
            }
            catch (AbandonedMutexException)
            {
                // The previous owner died inside its transaction; SQLite rolled it back, so the lock is simply ours.
                return true;
            }
        }

        var fd = _fd;
        if (Libc.Flock(fd, Libc.LockExclusive | Libc.LockNonBlocking) == 0)
        {
            return true;
        }

        // Contended: wait in short steps so a stuck holder turns into a timeout instead of a hang.
        var started = Stopwatch.GetTimestamp();
        var attempt = 0;
        while (true)
        {
            var error = Marshal.GetLastPInvokeError();
            if (!Libc.IsWouldBlock(error) && error != Libc.Eintr)
            {
                throw new Win32Exception(error, $"flock on '{LockFilePath}' failed.");
            }

            if (Stopwatch.GetElapsedTime(started) >= timeout)
            {
                return false;
            }

            // Other writers hold the lock for tens of microseconds to a few milliseconds: sleep in short, growing steps.
            // Yielding instead would burn the CPU the holder needs when processes outnumber cores.
            NativeSleep.Microseconds(Math.Min(MaxPollMicroseconds, 20 << Math.Min(attempt++, 4)));

            if (Libc.Flock(fd, Libc.LockExclusive | Libc.LockNonBlocking) == 0)
            {
                return true;
            }
        }
    }

    public void Exit()
    {
        if (_mutex is not null)
        {
            _mutex.ReleaseMutex();
            return;
        }

        Libc.Flock(_fd, Libc.LockUnlock);
    }

    public void Dispose()
    {
        if (_fd >= 0)
        {
            Libc.Close(_fd);
            _fd = -1;
        }

        _mutex?.Dispose();
    }
}

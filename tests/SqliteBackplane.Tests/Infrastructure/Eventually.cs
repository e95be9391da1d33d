using System.Diagnostics;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// Waits for a condition that only a background process can bring about (such as a live node reaping a dead one),
/// checking it every <see cref="PollInterval"/>. This is a deadline on an observable condition, not a sleep.
/// </summary>
public static class Eventually
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    public static async Task<TimeSpan> BecomesTrueAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var stopwatch = Stopwatch.StartNew();
        using var timer = new PeriodicTimer(PollInterval);
        while (!condition())
        {
            if (stopwatch.Elapsed > timeout)
            {
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0.###} s waiting until {what}.");
            }
            await timer.WaitForNextTickAsync();
        }
        return stopwatch.Elapsed;
    }
}

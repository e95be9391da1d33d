using System.Runtime.CompilerServices;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// Every await in the tests goes through these, so a hang becomes a failure that says what was awaited, not a stuck run.
/// </summary>
public static class TaskTimeoutExtensions
{
    /// <summary>Long enough for a slow, loaded CI machine; a correct implementation needs milliseconds.</summary>
    public static readonly TimeSpan DefaultTimeoutValue = TimeSpan.FromSeconds(15);

    public static Task DefaultTimeout(this Task task, [CallerArgumentExpression(nameof(task))] string? what = null) =>
        task.TimeoutAfter(DefaultTimeoutValue, what);

    public static Task<T> DefaultTimeout<T>(this Task<T> task, [CallerArgumentExpression(nameof(task))] string? what = null) =>
        task.TimeoutAfter(DefaultTimeoutValue, what);

    public static Task DefaultTimeout(this ValueTask task, [CallerArgumentExpression(nameof(task))] string? what = null) =>
        task.AsTask().TimeoutAfter(DefaultTimeoutValue, what);

    public static Task<T> DefaultTimeout<T>(this ValueTask<T> task, [CallerArgumentExpression(nameof(task))] string? what = null) =>
        task.AsTask().TimeoutAfter(DefaultTimeoutValue, what);

    public static async Task TimeoutAfter(this Task task, TimeSpan timeout, [CallerArgumentExpression(nameof(task))] string? what = null)
    {
        try
        {
            await task.WaitAsync(timeout);
        }
        catch (TimeoutException ex) when (!task.IsCompleted)
        {
            throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0.###} s waiting for: {what}", ex);
        }
    }

    public static async Task<T> TimeoutAfter<T>(this Task<T> task, TimeSpan timeout, [CallerArgumentExpression(nameof(task))] string? what = null)
    {
        try
        {
            return await task.WaitAsync(timeout);
        }
        catch (TimeoutException ex) when (!task.IsCompleted)
        {
            throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0.###} s waiting for: {what}", ex);
        }
    }
}

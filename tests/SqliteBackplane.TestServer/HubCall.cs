using Microsoft.AspNetCore.SignalR;

namespace SqliteBackplane.TestServer;

/// <summary>
/// Runs a hub method body and turns any exception into a <see cref="HubException"/> whose message is
/// "{exception type name}: {message}", so the calling test sees exactly what the lifetime manager threw.
/// </summary>
internal static class HubCall
{
    public static async Task RunAsync(Func<Task> body)
    {
        try
        {
            await body();
        }
        catch (Exception ex)
        {
            throw Describe(ex);
        }
    }

    public static async Task<T> RunAsync<T>(Func<Task<T>> body)
    {
        try
        {
            return await body();
        }
        catch (Exception ex)
        {
            throw Describe(ex);
        }
    }

    private static HubException Describe(Exception ex) => new($"{ex.GetType().Name}: {ex.Message}", ex);
}

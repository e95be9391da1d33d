using System.Diagnostics;

namespace ChatSample.Launcher;

/// <summary>
/// Runs in a child started by <see cref="MultiInstanceLauncher"/>: stops the server when the launcher closes the
/// child's standard input (a graceful stop request, or the launcher died and the OS closed it), or when the
/// launcher's process is gone.
/// </summary>
internal sealed class ParentProcessWatcher(int parentProcessId, IHostApplicationLifetime lifetime, ILogger<ParentProcessWatcher> logger) : BackgroundService
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var stdinClosed = Task.Run(() => WaitForStandardInputToClose(stoppingToken), stoppingToken);
        var parentGone = WaitForParentToExitAsync(stoppingToken);
        return StopWhenEitherAsync(stdinClosed, parentGone, stoppingToken);
    }

    private async Task StopWhenEitherAsync(Task stdinClosed, Task parentGone, CancellationToken stoppingToken)
    {
        var first = await Task.WhenAny(stdinClosed, parentGone);
        if (stoppingToken.IsCancellationRequested)
        {
            return;
        }
        logger.LogInformation(first == stdinClosed
            ? "The launcher (process {ParentProcessId}) asked this instance to stop."
            : "The launcher (process {ParentProcessId}) is gone; stopping this instance.", parentProcessId);
        lifetime.StopApplication();
    }

    private static void WaitForStandardInputToClose(CancellationToken stoppingToken)
    {
        using var stdin = Console.OpenStandardInput();
        var buffer = new byte[256];
        while (!stoppingToken.IsCancellationRequested && stdin.Read(buffer, 0, buffer.Length) > 0)
        {
            // Input is ignored; only its end matters.
        }
    }

    private async Task WaitForParentToExitAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested && IsRunning(parentProcessId))
        {
            await Task.Delay(PollInterval, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    private static bool IsRunning(int processId)
    {
        try
        {
            using var process = Process.GetProcessById(processId);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}

using System.Diagnostics;
using System.Runtime.InteropServices;

namespace ChatSample.Launcher;

/// <summary>
/// Starts several copies of this executable as child servers on one database file, prints their URLs, and stops
/// them all together: on Ctrl+C or SIGTERM, or as soon as any one of them exits.
/// </summary>
/// <remarks>
/// Each child gets <c>--parent-pid</c> and a redirected standard input. Closing that input asks the child to
/// stop gracefully; the operating system closes it too if the launcher dies, so children never outlive it.
/// </remarks>
public static class MultiInstanceLauncher
{
    private static readonly TimeSpan GracefulStopTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);

    public static async Task<int> RunAsync(ChatSampleCommandLine commandLine)
    {
        using var stopRequested = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnStopSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnStopSignal);
        void OnStopSignal(PosixSignalContext context)
        {
            context.Cancel = true; // Keep the launcher alive until its children have stopped.
            stopRequested.Cancel();
        }

        PrintBanner(commandLine);

        var children = new List<ChildServer>();
        try
        {
            for (var instance = 1; instance <= commandLine.Instances; instance++)
            {
                children.Add(ChildServer.Start(commandLine, instance));
            }

            var anyExited = Task.WhenAny(children.Select(child => child.Exited));
            _ = ReportWhenReadyAsync(children, stopRequested.Token);

            // WhenAny never throws, so the cancelled delay just ends the wait.
            await Task.WhenAny(anyExited, Task.Delay(Timeout.Infinite, stopRequested.Token));
            if (!stopRequested.IsCancellationRequested)
            {
                var first = children.First(child => child.Exited.IsCompleted);
                Console.WriteLine($"[launcher] Instance {first.Instance} exited with code {first.Exited.Result}; stopping the others.");
            }
        }
        finally
        {
            await StopAllAsync(children);
        }

        var failed = children.Where(child => child.Exited.Result != 0).ToList();
        foreach (var child in failed)
        {
            Console.WriteLine($"[launcher] Instance {child.Instance} exited with code {child.Exited.Result}.");
        }
        Console.WriteLine("[launcher] All instances stopped.");
        return failed.Count == 0 ? 0 : 1;
    }

    private static void PrintBanner(ChatSampleCommandLine commandLine)
    {
        Console.WriteLine();
        Console.WriteLine($"SqliteBackplane chat sample: {commandLine.Instances} server processes sharing one SQLite file");
        Console.WriteLine($"  database:   {commandLine.DatabasePath}");
        for (var instance = 1; instance <= commandLine.Instances; instance++)
        {
            Console.WriteLine($"  instance {instance}: {ChildServer.UrlOf(commandLine.PortFor(instance))}");
        }
        Console.WriteLine("Open two of these URLs in a browser, pick a name in each, and chat across processes. Ctrl+C stops all.");
        Console.WriteLine();
    }

    private static async Task ReportWhenReadyAsync(List<ChildServer> children, CancellationToken cancellationToken)
    {
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(ReadyTimeout);
            await Task.WhenAll(children.Select(child => child.WaitUntilReadyAsync(http, timeout.Token)));
            Console.WriteLine($"[launcher] Ready: {string.Join("  ", children.Select(child => child.Url))}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Console.WriteLine($"[launcher] Not every instance became ready (within {ReadyTimeout.TotalSeconds:0} s); see their output above.");
        }
        catch (OperationCanceledException)
        {
            // Stopping before everything was up: nothing to report.
        }
    }

    private static async Task StopAllAsync(List<ChildServer> children)
    {
        foreach (var child in children)
        {
            child.RequestStop();
        }

        var allExited = Task.WhenAll(children.Select(child => child.Exited));
        if (await Task.WhenAny(allExited, Task.Delay(GracefulStopTimeout)) != allExited)
        {
            foreach (var child in children.Where(child => !child.Exited.IsCompleted))
            {
                Console.WriteLine($"[launcher] Instance {child.Instance} did not stop within {GracefulStopTimeout.TotalSeconds:0} s; killing it.");
                child.Kill();
            }
            await allExited;
        }

        foreach (var child in children)
        {
            child.Dispose();
        }
    }
}

using System.Runtime.InteropServices;

namespace ChatSample.Launcher;

/// <summary>
/// Starts several copies of this executable as child servers on one database file behind a front door (YARP, see
/// <see cref="FrontDoor"/>), prints its one URL, restarts any child that dies while the others keep serving, and stops
/// them all together on Ctrl+C or SIGTERM.
/// </summary>
/// <remarks>
/// Each child gets <c>--parent-pid</c> and a redirected standard input. Closing that input asks the child to
/// stop gracefully; the operating system closes it too if the launcher dies, so children never outlive it.
/// </remarks>
public static class MultiInstanceLauncher
{
    private static readonly TimeSpan GracefulStopTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);

    /// <summary>An instance that dies this soon after starting, this many times in a row, is broken: stop instead of restarting it.</summary>
    private static readonly TimeSpan QuickExit = TimeSpan.FromSeconds(10);
    private const int MaxQuickExits = 3;

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
        WebApplication? frontDoor = null;
        try
        {
            frontDoor = await FrontDoor.StartAsync(commandLine);
            for (var instance = 1; instance <= commandLine.Instances; instance++)
            {
                children.Add(ChildServer.Start(commandLine, instance));
            }

            _ = ReportWhenReadyAsync(commandLine.FrontDoorUrl, children, stopRequested.Token);
            var quickExits = new int[children.Count];
            var stopped = Task.Delay(Timeout.Infinite, stopRequested.Token);
            while (!stopRequested.IsCancellationRequested)
            {
                // WhenAny never throws, so the cancelled delay just ends the wait.
                await Task.WhenAny(children.Select(child => (Task)child.Exited).Append(stopped));
                if (stopRequested.IsCancellationRequested)
                {
                    break;
                }

                var index = children.FindIndex(child => child.Exited.IsCompleted);
                var dead = children[index];
                quickExits[index] = DateTime.UtcNow - dead.StartedAt < QuickExit ? quickExits[index] + 1 : 0;
                if (quickExits[index] >= MaxQuickExits)
                {
                    Console.WriteLine($"[launcher] Instance {dead.Instance} exited with code {dead.Exited.Result} {MaxQuickExits} times in a row right after starting; stopping the others.");
                    break;
                }

                Console.WriteLine($"[launcher] Instance {dead.Instance} exited with code {dead.Exited.Result}; the other instances keep serving. Restarting instance {dead.Instance} on {dead.Url}; its pages reconnect through the front door.");
                dead.Dispose();
                children[index] = ChildServer.Start(commandLine, dead.Instance);
                _ = ReportWhenReadyAsync(commandLine.FrontDoorUrl, [children[index]], stopRequested.Token);
            }
        }
        finally
        {
            await StopAllAsync(children);
            if (frontDoor is not null)
            {
                await frontDoor.StopAsync();
                await frontDoor.DisposeAsync();
            }
        }

        var failed = children.Where(child => child.Exited.Result != 0).ToList();
        foreach (var child in failed)
        {
            Console.WriteLine($"[launcher] Instance {child.Instance} exited with code {child.Exited.Result}.");
        }
        Console.WriteLine("[launcher] All instances stopped.");
        // Stopped for a broken instance rather than on request: that is a failure too.
        return failed.Count == 0 && stopRequested.IsCancellationRequested ? 0 : 1;
    }

    private static void PrintBanner(ChatSampleCommandLine commandLine)
    {
        Console.WriteLine();
        Console.WriteLine($"SqliteBackplane chat sample: {commandLine.Instances} server processes sharing one SQLite file");
        Console.WriteLine($"  database:   {commandLine.DatabasePath}");
        Console.WriteLine($"  open:       {commandLine.FrontDoorUrl}");
        Console.WriteLine($"  instances:  {string.Join("  ", Enumerable.Range(1, commandLine.Instances).Select(instance => ServerInstance.LoopbackUrl(commandLine.PortFor(instance))))} (behind the front door)");
        // The dashboard answers local requests only, and a proxied request is not local: open it on an instance's own port.
        Console.WriteLine($"  dashboard:  {ServerInstance.LoopbackUrl(commandLine.PortFor(1))}/backplane/ (on any instance's own port)");
        Console.WriteLine("Open the URL in two browsers (or a private window), pick a name in each, and chat across processes. Ctrl+C stops all.");
        Console.WriteLine();
    }

    private static async Task ReportWhenReadyAsync(string frontDoorUrl, List<ChildServer> children, CancellationToken cancellationToken)
    {
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(ReadyTimeout);
            await Task.WhenAll(children.Select(child => child.WaitUntilReadyAsync(http, timeout.Token)));
            Console.WriteLine($"[launcher] Ready: {frontDoorUrl} (instances {string.Join("  ", children.Select(child => child.Url))})");
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

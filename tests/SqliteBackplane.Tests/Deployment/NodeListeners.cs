using SqliteBackplane.Tests.EndToEnd;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Deployment;

/// <summary>
/// Node resume clients (tests/e2e/listen.mjs, @microsoft/signalr with the npm helper) for remote
/// <see cref="ResumeReceiver"/>s, several per Node process. They stop once the worker's end marker reached every
/// one; then <see cref="FinishAsync"/> gives each receiver its tally.
/// </summary>
internal sealed class NodeListeners
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(12);

    private readonly List<(List<ResumeReceiver> Receivers, Task<NodeScriptResult> Run)> _processes;

    private NodeListeners(List<(List<ResumeReceiver> Receivers, Task<NodeScriptResult> Run)> processes) => _processes = processes;

    /// <summary>Starts the listeners for <paramref name="receivers"/> through <paramref name="frontDoor"/>, <paramref name="perProcess"/> per Node process, and waits until all joined the room.</summary>
    public static async Task<NodeListeners> StartAsync(Uri frontDoor, IReadOnlyList<ResumeReceiver> receivers, int perProcess, ITestOutputHelper output)
    {
        var processes = new List<(List<ResumeReceiver>, Task<NodeScriptResult>)>();
        var ready = new List<Task>();
        foreach (var chunk in receivers.Chunk(perProcess))
        {
            var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var run = NodeScripts.RunAsync("listen.mjs", [frontDoor.ToString(), chunk[0].Users.ToString(System.Globalization.CultureInfo.InvariantCulture), .. chunk.Select(r => r.NodeSpec)],
                RunTimeout, output, line =>
                {
                    if (line == "READY")
                    {
                        connected.TrySetResult();
                    }
                });
            processes.Add(([.. chunk], run));
            ready.Add(Task.WhenAny(connected.Task, run));
        }
        await Task.WhenAll(ready).WaitAsync(ReadyTimeout);
        foreach (var (_, run) in processes)
        {
            if (run.IsCompleted)
            {
                throw new Xunit.Sdk.XunitException($"A Node listener ended before it was ready:{Environment.NewLine}{(await run).Output}");
            }
        }
        return new NodeListeners(processes);
    }

    /// <summary>Waits for every Node process to end (after the end marker) and gives each receiver its tally.</summary>
    public async Task FinishAsync()
    {
        foreach (var (receivers, run) in _processes)
        {
            var result = await run;
            foreach (var receiver in receivers)
            {
                receiver.SetTally(result.Output);
            }
            result.AssertPassed($"{receivers.Count} Node resume clients connected through the front door", "every Node client received END");
        }
    }
}

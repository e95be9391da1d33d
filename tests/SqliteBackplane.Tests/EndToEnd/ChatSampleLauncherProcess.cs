using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using SqliteBackplane.Tests.Infrastructure;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.EndToEnd;

/// <summary>
/// The chat sample's launcher as its own process (<c>ChatSample --instances N --base-port B --db FILE</c>): its front door
/// (YARP) on <c>127.0.0.1:B</c>, N child servers on <c>127.0.0.1:B+1</c>..<c>B+N</c>, and any child that dies restarted.
/// Disposing kills the launcher and its children.
/// </summary>
public sealed class ChatSampleLauncherProcess : IAsyncDisposable
{
    private const int StartAttempts = 3;

    private readonly Process _process;
    private readonly OutputLog _log;

    private ChatSampleLauncherProcess(Process process, OutputLog log, Uri frontDoor, IReadOnlyList<Uri> addresses)
    {
        _process = process;
        _log = log;
        FrontDoor = frontDoor;
        Addresses = addresses;
    }

    /// <summary>The one URL users open: the launcher's front door.</summary>
    public Uri FrontDoor { get; }

    /// <summary>The base address of each instance: <c>Addresses[0]</c> is instance 1.</summary>
    public IReadOnlyList<Uri> Addresses { get; }

    /// <summary>Everything the launcher and its children (lines prefixed <c>[N]</c>) wrote so far.</summary>
    public string Output => _log.ToString();

    /// <summary>Starts a launcher of <paramref name="instances"/> servers on <paramref name="databasePath"/> and waits until each serves <c>/api/instance</c>.</summary>
    public static async Task<ChatSampleLauncherProcess> StartAsync(int instances, string databasePath, ITestOutputHelper? testOutput = null)
    {
        var assembly = ChatSampleProcess.AssemblyPath;
        for (var attempt = 1; ; attempt++)
        {
            // The front door listens on base and instance N on base + N, so the ports after a free one must be free too;
            // another process could still take one first, in which case the launcher gives up and another base is tried.
            var basePort = FreeLoopbackPortRange(instances + 1);
            var log = new OutputLog("chat launcher", testOutput);
            var process = ChatSampleProcess.Start(assembly, ["--instances", instances.ToString(), "--base-port", basePort.ToString(), "--db", databasePath], databasePath, log);
            var addresses = Enumerable.Range(1, instances).Select(instance => new Uri($"http://127.0.0.1:{basePort + instance}")).ToList();
            try
            {
                await Task.WhenAll(addresses.Select((address, index) =>
                    ChatSampleProcess.WaitUntilReadyAsync(process, address, index + 1, databasePath, servedByThisProcess: false)));
                var frontDoor = new Uri($"http://127.0.0.1:{basePort}");
                await Eventually.BecomesTrueAsync(() => log.ToString().Contains($"[launcher] Ready: {frontDoor.ToString().TrimEnd('/')}", StringComparison.Ordinal),
                    TimeSpan.FromSeconds(30), "the launcher to say its front door is ready");
                return new ChatSampleLauncherProcess(process, log, frontDoor, addresses);
            }
            catch (Exception ex)
            {
                if (await ChatSampleProcess.AbandonAsync(process, log) && attempt < StartAttempts)
                {
                    continue;
                }
                throw new InvalidOperationException($"The chat launcher failed to start {instances} instances from port {basePort + 1}: {ex.Message}{Environment.NewLine}Output:{Environment.NewLine}{log}", ex);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        ChatSampleProcess.KillQuietly(_process);
        await _process.WaitForExitAsync().DefaultTimeout("the chat launcher to exit after being killed");
        _process.Dispose();
    }

    /// <summary>The first of <paramref name="count"/> consecutive loopback ports that are free now.</summary>
    private static int FreeLoopbackPortRange(int count)
    {
        while (true)
        {
            var first = ChatSampleProcess.FreeLoopbackPort();
            if (first + count <= IPEndPoint.MaxPort && Enumerable.Range(first + 1, count - 1).All(IsFree))
            {
                return first;
            }
        }
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

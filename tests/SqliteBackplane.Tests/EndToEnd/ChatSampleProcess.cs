using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using SqliteBackplane.Tests.Infrastructure;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.EndToEnd;

/// <summary>
/// One instance of samples/ChatSample running as its own process (<c>ChatSample --instance N --port P --db FILE
/// --parent-pid &lt;this process&gt;</c>), on a free port of 127.0.0.1. Its standard input stays open: closing it is
/// the sample's graceful stop request, as its launcher does. Disposing kills it if it is still running.
/// </summary>
public sealed class ChatSampleProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ReadyPollInterval = TimeSpan.FromMilliseconds(100);
    private const int StartAttempts = 3;

    private readonly Process _process;
    private readonly OutputLog _log;

    private ChatSampleProcess(Process process, OutputLog log, int instance, Uri address)
    {
        _process = process;
        _log = log;
        Instance = instance;
        Address = address;
    }

    /// <summary>The sample's instance number, shown on its page.</summary>
    public int Instance { get; }

    /// <summary>The base address, for example <c>http://127.0.0.1:41234</c>.</summary>
    public Uri Address { get; }

    /// <summary>Everything the process wrote so far.</summary>
    public string Output => _log.ToString();

    /// <summary>The built sample beside this test build (same configuration and target framework).</summary>
    public static string AssemblyPath
    {
        get
        {
            // tests/SqliteBackplane.Tests/bin/<Configuration>/<tfm>/ -> samples/ChatSample/bin/<Configuration>/<tfm>/ChatSample.dll
            var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            var path = Path.Combine(RepositoryRoot.Path, "samples", "ChatSample", "bin", output.Parent!.Name, output.Name, "ChatSample.dll");
            return File.Exists(path)
                ? path
                : throw new FileNotFoundException($"The chat sample is not built at {path}. Building the test project builds it (a ProjectReference); build tests/SqliteBackplane.Tests -c {output.Parent.Name} again.");
        }
    }

    /// <summary>Starts instance <paramref name="instance"/> on <paramref name="databasePath"/> and waits until it serves <c>/api/instance</c>.</summary>
    public static async Task<ChatSampleProcess> StartAsync(int instance, string databasePath, ITestOutputHelper? testOutput = null)
    {
        var assembly = AssemblyPath;
        for (var attempt = 1; ; attempt++)
        {
            // A free port is picked by binding port 0 and releasing it; another process could take it before the
            // sample binds it, in which case the sample exits and another port is tried.
            var port = FreeLoopbackPort();
            var name = $"chat instance {instance}";
            var log = new OutputLog(name, testOutput);
            var process = Start(assembly, ["--instance", instance.ToString(), "--port", port.ToString(), "--db", databasePath], databasePath, log);
            var address = new Uri($"http://127.0.0.1:{port}");
            try
            {
                await WaitUntilReadyAsync(process, address, instance, databasePath, servedByThisProcess: true);
                return new ChatSampleProcess(process, log, instance, address);
            }
            catch (Exception ex)
            {
                if (await AbandonAsync(process, log) && attempt < StartAttempts)
                {
                    continue;
                }
                throw new InvalidOperationException($"{name} failed to start on port {port}: {ex.Message}{Environment.NewLine}Output:{Environment.NewLine}{log}", ex);
            }
        }
    }

    /// <summary>Asks the instance to stop (closes its standard input) and waits for it to exit; returns the exit code.</summary>
    public async Task<int> StopAsync()
    {
        _process.StandardInput.Close();
        await _process.WaitForExitAsync().DefaultTimeout($"chat instance {Instance} to stop after its standard input closed");
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        KillQuietly(_process);
        await _process.WaitForExitAsync().DefaultTimeout($"chat instance {Instance} to exit after being killed");
        _process.Dispose();
    }

    /// <summary>
    /// Starts <c>dotnet exec ChatSample.dll &lt;arguments&gt; --parent-pid &lt;this process&gt;</c> in the database's directory,
    /// with its output in <paramref name="log"/> and its standard input open.
    /// </summary>
    internal static Process Start(string assembly, IEnumerable<string> arguments, string databasePath, OutputLog log)
    {
        var startInfo = new ProcessStartInfo(TestServerLocation.DotnetHost)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(databasePath)!,
        };
        foreach (var argument in new[] { "exec", assembly }.Concat(arguments).Concat(["--parent-pid", Environment.ProcessId.ToString()]))
        {
            startInfo.ArgumentList.Add(argument);
        }
        var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                log.Add("out", e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                log.Add("err", e.Data);
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>
    /// Waits until <paramref name="address"/> serves <c>/api/instance</c> as instance <paramref name="instance"/> on
    /// <paramref name="databasePath"/> (and from <paramref name="process"/> itself when <paramref name="servedByThisProcess"/>,
    /// else from one of its children); fails if <paramref name="process"/> exits first.
    /// </summary>
    internal static async Task<int> WaitUntilReadyAsync(Process process, Uri address, int instance, string databasePath, bool servedByThisProcess)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.StartNew();
        using var timer = new PeriodicTimer(ReadyPollInterval);
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"it exited with code {process.ExitCode} before serving {address}api/instance");
            }
            try
            {
                var served = await http.GetFromJsonAsync<InstanceInfo>(new Uri(address, "api/instance"));
                if (served?.Instance == instance && served.Database == databasePath && (served.ProcessId == process.Id) == servedByThisProcess)
                {
                    return served.ProcessId;
                }
                throw new InvalidOperationException($"{address} is served by another process: {served}");
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
                // A request timed out; try again until the deadline.
            }
            if (deadline.Elapsed > StartTimeout)
            {
                throw new TimeoutException($"it did not serve {address}api/instance within {StartTimeout.TotalSeconds} s");
            }
            await timer.WaitForNextTickAsync();
        }
    }

    /// <summary>Kills a process that failed to start; returns true when it failed because a port was taken (so another may be tried).</summary>
    internal static async Task<bool> AbandonAsync(Process process, OutputLog log)
    {
        KillQuietly(process);
        await process.WaitForExitAsync();
        process.Dispose();
        return log.ToString().Contains("address already in use", StringComparison.OrdinalIgnoreCase);
    }

    internal static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    internal static void KillQuietly(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    private sealed record InstanceInfo(int Instance, int Port, int ProcessId, string MachineName, string Database);
}

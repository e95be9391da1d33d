using System.Diagnostics;
using Microsoft.AspNetCore.Http.Connections;
using SqliteBackplane.TestServer;
using SqliteBackplane.TestSupport;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// A TestServer running as a separate OS process (<c>dotnet SqliteBackplane.TestServer.dll ...</c>). Its stdout and
/// stderr are captured and included in failure messages. Disposing kills it (with any children).
/// </summary>
public sealed class ServerProcess : ITestServerInstance
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly ListeningProcess _child;
    private readonly Process _process;
    private readonly OutputLog _log;
    private readonly Uri _address;

    private ServerProcess(ListeningProcess child, OutputLog log, TestServerSettings settings, string name)
    {
        _child = child;
        _process = child.Process;
        _log = log;
        _address = child.Address;
        Settings = settings;
        Name = $"{name} (pid {child.ProcessId})";
    }

    public string Name { get; }

    public TestServerSettings Settings { get; }

    /// <summary>The operating-system process id.</summary>
    public int ProcessId => _process.Id;

    /// <summary>Everything the process wrote so far.</summary>
    public string Output => _log.ToString();

    /// <summary>The address the server listens on, for example <c>http://127.0.0.1:41234</c>.</summary>
    public Uri Address => _address;

    /// <summary>The port the server listens on.</summary>
    public int Port => _address.Port;

    /// <summary>
    /// Starts the server and waits until it prints its LISTENING line. It listens on a free port, or on
    /// <paramref name="port"/> when given (to restart a server where its clients expect it). It starts in
    /// <paramref name="workingDirectory"/> when given, else in the tests' working directory.
    /// </summary>
    public static async Task<ServerProcess> StartAsync(TestServerSettings settings, string name, ITestOutputHelper? testOutput = null, int port = 0,
        string? workingDirectory = null)
    {
        settings = settings with { Port = port, ParentProcessId = Environment.ProcessId };
        var log = new OutputLog(name, testOutput);
        try
        {
            var child = await ListeningProcess.StartAsync(StartInfo(settings, workingDirectory), name, TestServerApp.ListeningPrefix, StartTimeout, log.Add);
            return new ServerProcess(child, log, settings, name);
        }
        catch (InvalidOperationException ex)
        {
            throw new InvalidOperationException($"{ex.Message}{Environment.NewLine}Output:{Environment.NewLine}{log}", ex);
        }
    }

    /// <summary>
    /// Runs the TestServer as a send-only worker (<see cref="TestServerSettings.Sends"/>) until it exits; returns its exit
    /// code and everything it wrote.
    /// </summary>
    public static async Task<(int ExitCode, string Output)> RunWorkerAsync(TestServerSettings settings, string name, ITestOutputHelper? testOutput = null)
    {
        var log = new OutputLog(name, testOutput);
        using var process = new Process { StartInfo = StartInfo(settings with { ParentProcessId = Environment.ProcessId }, workingDirectory: null) };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { log.Add("out", e.Data); } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { log.Add("err", e.Data); } };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await process.WaitForExitAsync().TimeoutAfter(StartTimeout, $"{name} to send and exit");
        }
        catch (TimeoutException ex)
        {
            ListeningProcess.KillQuietly(process);
            throw new TimeoutException($"{ex.Message}{Environment.NewLine}{name} output:{Environment.NewLine}{log}", ex);
        }
        return (process.ExitCode, log.ToString());
    }

    private static ProcessStartInfo StartInfo(TestServerSettings settings, string? workingDirectory)
    {
        var startInfo = new ProcessStartInfo(TestServerLocation.DotnetHost)
        {
            WorkingDirectory = workingDirectory ?? "",
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        startInfo.ArgumentList.Add("exec");
        startInfo.ArgumentList.Add(TestServerLocation.AssemblyPath);
        foreach (var argument in settings.ToArguments())
        {
            startInfo.ArgumentList.Add(argument);
        }
        return startInfo;
    }

    public Task<TestClient> ConnectAsync(string user, HubProtocolKind protocol = HubProtocolKind.Json, string hubPath = HubPaths.Test, HttpTransportType transport = HttpTransportType.WebSockets) =>
        ConnectWithDiagnosticsAsync(new UriBuilder(_address) { Path = hubPath }.Uri, user, protocol, hubPath, transport);

    /// <summary>Kills the process at once, like <c>kill -9</c>: no graceful shutdown, no cleanup of its rows.</summary>
    public Task KillAsync() => _child.KillAsync().DefaultTimeout($"{Name} to exit after being killed");

    /// <summary>
    /// Stops the process gracefully with SIGTERM (not on Windows): the app shuts down, the
    /// backplane removes this node's rows, and the process exits. Returns the exit code.
    /// </summary>
    public async Task<int> StopAsync()
    {
        _child.Terminate();
        try
        {
            await _process.WaitForExitAsync().DefaultTimeout($"{Name} to exit after SIGTERM");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}{Environment.NewLine}{Name} output:{Environment.NewLine}{_log}", ex);
        }
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }

    private async Task<TestClient> ConnectWithDiagnosticsAsync(Uri hubUri, string user, HubProtocolKind protocol, string hubPath, HttpTransportType transport)
    {
        try
        {
            return await TestClient.ConnectAsync(hubUri, user, protocol, transport, $"{user} on {Name} {hubPath}");
        }
        catch (Exception ex)
        {
            throw new InvalidOperationException($"Connecting {user} to {hubUri} failed: {ex.Message}{Environment.NewLine}{Name} output:{Environment.NewLine}{_log}", ex);
        }
    }
}

using System.Diagnostics;
using System.Globalization;

namespace ChatSample.Launcher;

/// <summary>One child server process started by <see cref="MultiInstanceLauncher"/>; its output is prefixed with its instance number.</summary>
internal sealed class ChildServer : IDisposable
{
    private readonly Process _process;
    private readonly TaskCompletionSource<int> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ChildServer(int instance, string url, Process process)
    {
        Instance = instance;
        Url = url;
        _process = process;
    }

    public int Instance { get; }

    public string Url { get; }

    /// <summary>When the process was started (UTC).</summary>
    public DateTime StartedAt { get; } = DateTime.UtcNow;

    /// <summary>Completes with the exit code once the process has exited and its output is drained.</summary>
    public Task<int> Exited => _exited.Task;

    public static ChildServer Start(ChatSampleCommandLine commandLine, int instance)
    {
        var port = commandLine.PortFor(instance);
        var startInfo = new ProcessStartInfo
        {
            FileName = CurrentExecutable(out var leadingArguments),
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in leadingArguments.Concat([
            "--instance", instance.ToString(CultureInfo.InvariantCulture),
            "--port", port.ToString(CultureInfo.InvariantCulture),
            "--db", commandLine.DatabasePath,
            "--parent-pid", Environment.ProcessId.ToString(CultureInfo.InvariantCulture),
        ]).Concat(commandLine.OtherArguments))
        {
            startInfo.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        var child = new ChildServer(instance, ServerInstance.LoopbackUrl(port), process);
        var prefix = $"[{instance}] ";
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { Console.Out.WriteLine(prefix + e.Data); } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { Console.Error.WriteLine(prefix + e.Data); } };
        process.Exited += (_, _) => child.OnExited();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Polls the child's instance endpoint until it answers.</summary>
    public async Task WaitUntilReadyAsync(HttpClient http, CancellationToken cancellationToken)
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (Exited.IsCompleted)
            {
                throw new OperationCanceledException($"Instance {Instance} exited before it was ready.");
            }
            try
            {
                using var response = await http.GetAsync($"{Url}/api/instance", cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // This attempt timed out; try again.
            }
            await Task.Delay(200, cancellationToken);
        }
    }

    /// <summary>Asks the child to stop gracefully by closing its standard input.</summary>
    public void RequestStop()
    {
        try
        {
            _process.StandardInput.Close();
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException)
        {
            // Already exited.
        }
    }

    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    public void Dispose() => _process.Dispose();

    private void OnExited()
    {
        // The parameterless WaitForExit also waits for the redirected output to be fully read.
        _process.WaitForExit();
        _exited.TrySetResult(_process.ExitCode);
    }

    /// <summary>The program to start for a child: the app host itself, or <c>dotnet</c> plus this assembly when run as <c>dotnet ChatSample.dll</c>.</summary>
    private static string CurrentExecutable(out string[] leadingArguments)
    {
        var processPath = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot tell which executable is running, so cannot start child instances. Start each one with --instance N instead.");
        var isDotnetHost = Path.GetFileNameWithoutExtension(processPath).Equals("dotnet", StringComparison.OrdinalIgnoreCase);
        leadingArguments = isDotnetHost ? [typeof(ChildServer).Assembly.Location] : [];
        return processPath;
    }
}

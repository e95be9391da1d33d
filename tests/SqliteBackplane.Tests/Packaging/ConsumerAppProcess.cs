using System.Diagnostics;
using System.Text.RegularExpressions;
using SqliteBackplane.Tests.Infrastructure;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Packaging;

/// <summary>
/// A built consumer app running as its own process on a free loopback port (Kestrel picks it: <c>--urls
/// http://127.0.0.1:0</c>), with its console log captured line by line. Disposing kills it.
/// </summary>
internal sealed partial class ConsumerAppProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly OutputLog _log;
    private readonly List<string> _lines;

    private ConsumerAppProcess(Process process, OutputLog log, List<string> lines, Uri address, string name)
    {
        _process = process;
        _log = log;
        _lines = lines;
        Address = address;
        Name = $"{name} (pid {process.Id})";
    }

    public string Name { get; }

    public Uri Address { get; }

    public string Output => _log.ToString();

    /// <summary>The console lines so far, stdout and stderr.</summary>
    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }
    }

    public static async Task<ConsumerAppProcess> StartAsync(string assemblyPath, string workingDirectory, string name, ITestOutputHelper output)
    {
        var startInfo = CommandRunner.StartInfo(TestServerLocation.DotnetHost, workingDirectory, assemblyPath, "--urls", "http://127.0.0.1:0");
        startInfo.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        var log = new OutputLog(name, output);
        var lines = new List<string>();
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        void OnLine(string stream, string? line)
        {
            if (line is null)
            {
                return;
            }
            log.Add(stream, line);
            lock (lines)
            {
                lines.Add(line);
            }
            if (ListeningLine().Match(line) is { Success: true } match)
            {
                listening.TrySetResult(new Uri(match.Groups[1].Value));
            }
        }
        process.OutputDataReceived += (_, e) => OnLine("out", e.Data);
        process.ErrorDataReceived += (_, e) => OnLine("err", e.Data);
        process.Exited += (_, _) => listening.TrySetException(new InvalidOperationException($"{name} exited with code {process.ExitCode} before it was listening."));

        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var address = await listening.Task.TimeoutAfter(TimeSpan.FromSeconds(30), $"{name} to print 'Now listening on'");
            return new ConsumerAppProcess(process, log, lines, address, name);
        }
        catch (Exception ex)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            process.Dispose();
            throw new InvalidOperationException($"{name} failed to start: {ex.Message}{Environment.NewLine}{log}", ex);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
        await _process.WaitForExitAsync().DefaultTimeout($"{Name} to exit");
        _process.Dispose();
    }

    [GeneratedRegex(@"Now listening on: (http://\S+)")]
    private static partial Regex ListeningLine();
}

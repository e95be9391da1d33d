using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// A <c>redis-server</c> (Debian's package; test.sh installs it) on a free loopback port, without persistence, for
/// the conformance suite against Microsoft's Redis backplane. Disposing kills it by its process id.
/// </summary>
public sealed class RedisServerProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);

    private readonly Process _process;
    private readonly OutputLog _log;

    private RedisServerProcess(Process process, OutputLog log, int port)
    {
        _process = process;
        _log = log;
        Port = port;
    }

    /// <summary>The port redis-server listens on, on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>The StackExchange.Redis configuration string for this server.</summary>
    public string Configuration => $"127.0.0.1:{Port}";

    /// <summary>Starts redis-server and waits until it accepts connections.</summary>
    public static async Task<RedisServerProcess> StartAsync()
    {
        var executable = FindExecutable()
            ?? throw new InvalidOperationException(
                "redis-server is missing, so the conformance suite cannot run against Microsoft's Redis backplane. " +
                "Install it (Debian: apt-get install -y redis-server; ./test.sh does this when run as root).");
        var port = FreeLoopbackPort();
        var startInfo = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" })
        {
            startInfo.ArgumentList.Add(argument);
        }

        var log = new OutputLog("redis-server", null);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }
            log.Add("out", e.Data);
            if (e.Data.Contains("Ready to accept connections", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                log.Add("err", e.Data);
            }
        };
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"redis-server exited with code {process.ExitCode} before it was ready."));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await ready.Task.WaitAsync(StartTimeout);
            return new RedisServerProcess(process, log, port);
        }
        catch (Exception ex)
        {
            process.Kill();
            await process.WaitForExitAsync();
            process.Dispose();
            throw new InvalidOperationException($"redis-server on port {port} failed to start: {ex.Message}{Environment.NewLine}{log}", ex);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.Kill();
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
        await _process.WaitForExitAsync().DefaultTimeout("redis-server to exit");
        _process.Dispose();
    }

    /// <summary>What redis-server printed, for failure messages.</summary>
    public override string ToString() => _log.ToString();

    private static string? FindExecutable()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        return path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, "redis-server"))
            .FirstOrDefault(File.Exists);
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

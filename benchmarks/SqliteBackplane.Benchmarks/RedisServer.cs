using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace SqliteBackplane.Benchmarks;

/// <summary>
/// A redis-server (Debian's package) for the Redis backplane setup: started by the harness on a free loopback port,
/// without persistence, and stopped by its process id.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private static readonly Lazy<string?> Executable = new(FindExecutable);

    private readonly Process _process;
    private readonly string _dir;

    private RedisServer(Process process, int port, string dir)
    {
        _process = process;
        _dir = dir;
        Address = $"127.0.0.1:{port}";
    }

    /// <summary>host:port, for <c>AddStackExchangeRedis</c>.</summary>
    public string Address { get; }

    public int Pid => _process.Id;

    /// <summary>Null when redis-server can be started; otherwise why the Redis setups are skipped.</summary>
    public static string? UnavailableReason => Executable.Value is null
        ? "redis-server is not on PATH (Debian: apt-get install -y redis-server); the Redis backplane setups are skipped"
        : null;

    public static async Task<RedisServer> StartAsync()
    {
        var exe = Executable.Value ?? throw new InvalidOperationException(UnavailableReason);
        var dir = Path.Combine(Path.GetTempPath(), $"sqlite-backplane-bench-redis-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        for (var attempt = 1; ; attempt++)
        {
            var port = FreeLoopbackPort();
            var info = new ProcessStartInfo(exe)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                UseShellExecute = false,
                WorkingDirectory = dir,
            };
            foreach (var arg in new[]
            {
                "--bind", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", dir, "--loglevel", "warning",
            })
            {
                info.ArgumentList.Add(arg);
            }
            var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start redis-server.");
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var server = new RedisServer(process, port, dir);
            if (await server.AcceptsConnectionsAsync(port))
            {
                return server;
            }
            await server.StopAsync(deleteDir: false);
            if (attempt == 3)
            {
                throw new InvalidOperationException($"redis-server did not accept connections on 127.0.0.1:{port}.");
            }
        }
    }

    private async Task<bool> AcceptsConnectionsAsync(int port)
    {
        var deadline = Stopwatch.GetTimestamp() + 10 * Stopwatch.Frequency;
        while (Stopwatch.GetTimestamp() < deadline && !_process.HasExited)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return true;
            }
            catch (SocketException)
            {
                await Task.Delay(20);
            }
        }
        return false;
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static string? FindExecutable()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, "redis-server");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    private async Task StopAsync(bool deleteDir)
    {
        try
        {
            if (!_process.HasExited)
            {
                // Our own child, by its process id; nothing is persisted (--save '' --appendonly no).
                _process.Kill();
                await _process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
        if (deleteDir)
        {
            try
            {
                Directory.Delete(_dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    public ValueTask DisposeAsync() => new(StopAsync(deleteDir: true));
}

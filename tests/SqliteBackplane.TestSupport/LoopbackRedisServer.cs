using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace SqliteBackplane.TestSupport;

/// <summary>
/// A <c>redis-server</c> (Debian's package: <c>apt-get install -y redis-server</c>; test.sh installs it) on a free
/// loopback port, without persistence, in a temporary directory of its own. Disposing kills it by its process id and
/// removes the directory.
/// </summary>
public sealed class LoopbackRedisServer : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);
    private static readonly Lazy<string?> Executable = new(FindExecutable);

    private readonly Process _process;
    private readonly string _directory;
    private readonly StringBuilder _output;

    private LoopbackRedisServer(Process process, int port, string directory, StringBuilder output)
    {
        _process = process;
        _directory = directory;
        _output = output;
        Port = port;
    }

    /// <summary>The port it listens on, on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary><c>127.0.0.1:port</c>: the StackExchange.Redis configuration string.</summary>
    public string Configuration => $"127.0.0.1:{Port}";

    /// <summary>The operating-system process id.</summary>
    public int ProcessId => _process.Id;

    /// <summary>Null when redis-server is on PATH; otherwise what to install.</summary>
    public static string? UnavailableReason => Executable.Value is null
        ? "redis-server is not on PATH; install it (Debian: apt-get install -y redis-server; ./test.sh does this when run as root)"
        : null;

    /// <summary>Starts redis-server and returns once it accepts connections (three tries on fresh ports).</summary>
    /// <exception cref="InvalidOperationException">redis-server is missing or did not start; the message says why.</exception>
    public static async Task<LoopbackRedisServer> StartAsync()
    {
        var executable = Executable.Value ?? throw new InvalidOperationException(UnavailableReason);
        for (var attempt = 1; ; attempt++)
        {
            var port = FreeLoopbackPort();
            var directory = Path.Combine(Path.GetTempPath(), $"sqlitebackplane-redis-{Environment.ProcessId}-{Guid.NewGuid():N}");
            Directory.CreateDirectory(directory);
            var startInfo = new ProcessStartInfo(executable)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = directory,
            };
            foreach (var argument in new[] { "--bind", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture), "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", directory })
            {
                startInfo.ArgumentList.Add(argument);
            }

            var output = new StringBuilder();
            var process = new Process { StartInfo = startInfo };
            process.OutputDataReceived += (_, e) => Append(output, e.Data);
            process.ErrorDataReceived += (_, e) => Append(output, e.Data);
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var server = new LoopbackRedisServer(process, port, directory, output);
            if (await server.AcceptsConnectionsAsync())
            {
                return server;
            }

            var log = server.ToString();
            await server.DisposeAsync();
            if (attempt == 3)
            {
                throw new InvalidOperationException($"redis-server did not accept connections on 127.0.0.1:{port} within {StartTimeout.TotalSeconds} s.{Environment.NewLine}{log}");
            }
        }
    }

    /// <summary>What redis-server printed, for failure messages.</summary>
    public override string ToString()
    {
        lock (_output)
        {
            return _output.ToString();
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Our own child, by its process id; nothing is persisted (--save '' --appendonly no).
        ListeningProcess.KillQuietly(_process);
        await _process.WaitForExitAsync();
        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private async Task<bool> AcceptsConnectionsAsync()
    {
        var started = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(started) < StartTimeout && !_process.HasExited)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port);
                return true;
            }
            catch (SocketException)
            {
                await Task.Delay(20); // Polling a port that has no event to await.
            }
        }

        return false;
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is not null)
        {
            lock (output)
            {
                output.AppendLine(line);
            }
        }
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string? FindExecutable() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, "redis-server"))
            .FirstOrDefault(File.Exists);
}

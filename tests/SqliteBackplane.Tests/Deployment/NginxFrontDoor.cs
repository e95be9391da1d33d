using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using SqliteBackplane.Tests.Infrastructure;

namespace SqliteBackplane.Tests.Deployment;

/// <summary>
/// Debian's nginx (test.sh installs it) with docs/deployment/nginx.conf, in a temporary prefix on a free
/// loopback port: the affinity cookie picks a per-process upstream whose other processes are backups, so a refused
/// (503) or dead process fails over. Stopped by its master's process id.
/// </summary>
public sealed class NginxFrontDoor : IFrontDoor
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);

    private readonly Process _process;
    private readonly string _prefix;

    private NginxFrontDoor(Process process, string prefix, int port)
    {
        _process = process;
        _prefix = prefix;
        Address = new Uri($"http://127.0.0.1:{port}");
    }

    public Uri Address { get; }

    public string Log => File.Exists(ErrorLog) ? File.ReadAllText(ErrorLog) : "";

    private string ErrorLog => Path.Combine(_prefix, "error.log");

    public static async Task<NginxFrontDoor> StartAsync(IReadOnlyList<Backend> backends)
    {
        var executable = FindExecutable()
            ?? throw new InvalidOperationException("nginx is missing, so the front-door tests cannot run. Install it (Debian: apt-get install -y nginx; ./test.sh does this when run as root).");
        var prefix = Directory.CreateTempSubdirectory("sqlitebackplane-nginx-").FullName;
        var port = FrontDoors.FreeLoopbackPort();
        var config = Path.Combine(prefix, "nginx.conf");
        await File.WriteAllTextAsync(config, Configuration(backends, port, prefix));

        var startInfo = new ProcessStartInfo(executable) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in new[] { "-p", prefix, "-c", config, "-e", Path.Combine(prefix, "error.log"), "-g", "daemon off;" })
        {
            startInfo.ArgumentList.Add(argument);
        }
        var process = Process.Start(startInfo) ?? throw new InvalidOperationException("nginx did not start.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var door = new NginxFrontDoor(process, prefix, port);
        try
        {
            await Eventually.BecomesTrueAsync(() => process.HasExited || Accepts(port), StartTimeout, $"nginx to listen on port {port}");
            if (process.HasExited)
            {
                throw new InvalidOperationException($"nginx exited with code {process.ExitCode}:{Environment.NewLine}{door.Log}");
            }
            return door;
        }
        catch
        {
            await door.DisposeAsync();
            throw;
        }
    }

    /// <summary>The nginx configuration users copy from the deployment guide; the tests run exactly this file.</summary>
    public static string DocumentedConfigurationPath => Path.Combine(RepositoryRoot.Path, "docs", "deployment", "nginx.conf");

    /// <summary>
    /// docs/deployment/nginx.conf for these processes: its upstreams for p1..p3 on 127.0.0.1:5001-5003 pointed at the
    /// test's ports, and its server listening on the test's loopback port, inside an http block whose logs and temp
    /// files stay in <paramref name="prefix"/>.
    /// </summary>
    public static string Configuration(IReadOnlyList<Backend> backends, int port, string prefix)
    {
        if (backends.Count != 3 || backends.Select((backend, index) => backend.RouteKey != $"p{index + 1}").Any(wrong => wrong))
        {
            throw new ArgumentException("The documented configuration has three processes with route keys p1, p2 and p3.", nameof(backends));
        }

        var documented = File.ReadAllText(DocumentedConfigurationPath);
        var site = documented.Replace("listen 80;", $"listen 127.0.0.1:{port};", StringComparison.Ordinal);
        // Through placeholders, so a test port that starts with 500 is never replaced again.
        for (var n = 1; n <= 3; n++)
        {
            site = site.Replace($"127.0.0.1:500{n}", $"@backend{n}@", StringComparison.Ordinal);
        }
        for (var n = 1; n <= 3; n++)
        {
            site = site.Replace($"@backend{n}@", $"127.0.0.1:{backends[n - 1].Port}", StringComparison.Ordinal);
        }
        if (!documented.Contains("listen 80;", StringComparison.Ordinal) || Enumerable.Range(1, 3).Any(n => !documented.Contains($"127.0.0.1:500{n}", StringComparison.Ordinal)))
        {
            throw new InvalidOperationException($"{DocumentedConfigurationPath} no longer has the ports 5001-5003 and the 'listen 80;' the tests replace.");
        }

        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"pid {prefix}/nginx.pid;");
        text.AppendLine("worker_processes 1;");
        text.AppendLine("events { worker_connections 1024; }");
        text.AppendLine("http {");
        text.AppendLine(CultureInfo.InvariantCulture, $"  access_log {prefix}/access.log;");
        foreach (var temp in new[] { "client_body", "proxy", "fastcgi", "uwsgi", "scgi" })
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  {temp}_temp_path {prefix}/{temp}_temp;");
        }
        text.AppendLine(site);
        text.AppendLine("}");
        return text.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            // SIGQUIT: the master stops its workers and exits.
            _ = SendSignal(_process.Id, 3);
            try
            {
                await _process.WaitForExitAsync().DefaultTimeout("nginx to exit");
            }
            catch (TimeoutException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        _process.Dispose();
        try
        {
            Directory.Delete(_prefix, recursive: true);
        }
        catch (IOException)
        {
            // A worker still writing its log: the temp folder is left behind.
        }
    }

    private static bool Accepts(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static string? FindExecutable() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Append("/usr/sbin")
            .Select(directory => Path.Combine(directory, "nginx"))
            .FirstOrDefault(File.Exists);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);
}

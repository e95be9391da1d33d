using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using SqliteBackplane.Tests.Infrastructure;

namespace SqliteBackplane.Tests.Deployment;

/// <summary>
/// Debian's nginx (test.sh installs it) with the configuration of docs/deployment.md, in a temporary prefix on a free
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

    /// <summary>
    /// The configuration of docs/deployment.md for these processes: `map` from the affinity cookie to an upstream per
    /// process (that process first, the others as backups), round robin for clients without the cookie.
    /// </summary>
    public static string Configuration(IReadOnlyList<Backend> backends, int port, string prefix)
    {
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
        text.AppendLine("  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }");
        text.AppendLine("  map $cookie_sqlitebackplane_route $signalr_upstream {");
        text.AppendLine("    default signalr_any;");
        foreach (var backend in backends)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"    {backend.RouteKey} signalr_{backend.RouteKey};");
        }
        text.AppendLine("  }");
        text.AppendLine("  upstream signalr_any {");
        foreach (var backend in backends)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"    server 127.0.0.1:{backend.Port} max_fails=1 fail_timeout=2s;");
        }
        text.AppendLine("  }");
        foreach (var backend in backends)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  upstream signalr_{backend.RouteKey} {{");
            text.AppendLine(CultureInfo.InvariantCulture, $"    server 127.0.0.1:{backend.Port} max_fails=1 fail_timeout=2s;");
            foreach (var other in backends.Where(other => other != backend))
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"    server 127.0.0.1:{other.Port} backup;");
            }
            text.AppendLine("  }");
        }
        text.AppendLine("  server {");
        text.AppendLine(CultureInfo.InvariantCulture, $"    listen 127.0.0.1:{port};");
        text.AppendLine("    location / {");
        text.AppendLine("      proxy_pass http://$signalr_upstream;");
        text.AppendLine("      proxy_http_version 1.1;");
        text.AppendLine("      proxy_set_header Upgrade $http_upgrade;");
        text.AppendLine("      proxy_set_header Connection $connection_upgrade;");
        text.AppendLine("      proxy_set_header Host $host;");
        text.AppendLine("      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;");
        text.AppendLine("      proxy_set_header X-Forwarded-Proto $scheme;");
        text.AppendLine("      proxy_buffering off;");
        text.AppendLine("      proxy_read_timeout 300s;");
        text.AppendLine("      proxy_send_timeout 300s;");
        text.AppendLine("      proxy_next_upstream error timeout http_502 http_503 non_idempotent;");
        text.AppendLine("      proxy_next_upstream_tries 3;");
        text.AppendLine("      proxy_next_upstream_timeout 10s;");
        text.AppendLine("    }");
        text.AppendLine("  }");
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

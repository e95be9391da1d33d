using System.Diagnostics;
using SqliteBackplane.TestSupport;

namespace SqliteBackplane.Benchmarks;

/// <summary>A benchmark server: this same program started with the <c>server</c> subcommand as its own OS process.</summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private const int MaxLoggedLines = 200;
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly List<string> _stderr;
    private volatile bool _stopping;

    private ServerProcess(Process process, string name, Uri baseUri, List<string> stderr)
    {
        _process = process;
        _stderr = stderr;
        Name = name;
        BaseUri = baseUri;
        // http: the official client negotiates first (POST .../negotiate), then opens the WebSocket.
        HubUri = new Uri($"http://{baseUri.Authority}{BenchServer.HubPath}");
        SendHubUri = new Uri($"http://{baseUri.Authority}{BenchServer.SendHubPath}");
        LoadHubUri = new Uri($"http://{baseUri.Authority}{BenchServer.LoadHubPath}");
    }

    public string Name { get; }

    public Uri BaseUri { get; }

    public Uri HubUri { get; }

    public Uri SendHubUri { get; }

    public Uri LoadHubUri { get; }

    public int Pid => _process.Id;

    /// <summary>True when the process ended without being asked to: a crash.</summary>
    public bool Crashed => !_stopping && _process.HasExited;

    public IReadOnlyList<string> StandardErrorLines
    {
        get
        {
            lock (_stderr)
            {
                return [.. _stderr];
            }
        }
    }

    public static async Task<ServerProcess> StartAsync(string mode, string? db, string name, string? redis = null)
    {
        // BENCH_SERVER_WRAPPER runs each server under a tool, for investigation, e.g.
        // "strace -f --seccomp-bpf -e trace=clock_nanosleep -o /tmp/server.strace" or "perf record -g -o /tmp/server.perf".
        var wrapper = Environment.GetEnvironmentVariable("BENCH_SERVER_WRAPPER")?.Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [];
        var info = new ProcessStartInfo(wrapper.Length > 0 ? wrapper[0] : Environment.ProcessPath!)
        {
            // Closing stdin asks the server to stop (DisposeAsync).
            RedirectStandardInput = true,
        };
        foreach (var arg in wrapper.Skip(1))
        {
            info.ArgumentList.Add(arg.Replace("{name}", name, StringComparison.Ordinal));
        }
        if (wrapper.Length > 0)
        {
            info.ArgumentList.Add(Environment.ProcessPath!);
        }
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet")
        {
            // Started as "dotnet SqliteBackplane.Benchmarks.dll": start the servers the same way.
            info.ArgumentList.Add(typeof(ServerProcess).Assembly.Location);
        }
        info.ArgumentList.Add("server");
        info.ArgumentList.Add("--backplane");
        info.ArgumentList.Add(mode);
        if (db is not null)
        {
            info.ArgumentList.Add("--db");
            info.ArgumentList.Add(db);
        }
        if (redis is not null)
        {
            info.ArgumentList.Add("--redis");
            info.ArgumentList.Add(redis);
        }
        info.Environment["DOTNET_gcServer"] = Environment.GetEnvironmentVariable("BENCH_SERVER_GC") ?? "0";

        var stderr = new List<string>();
        try
        {
            var child = await ListeningProcess.StartAsync(info, $"Server {name} ({mode})", BenchServer.ListeningPrefix, StartTimeout, (stream, line) =>
            {
                if (stream == "err")
                {
                    lock (stderr)
                    {
                        if (stderr.Count < MaxLoggedLines)
                        {
                            stderr.Add(line);
                        }
                    }
                }
            });
            return new ServerProcess(child.Process, name, child.Address, stderr);
        }
        catch (InvalidOperationException ex)
        {
            string log;
            lock (stderr)
            {
                log = string.Join(Environment.NewLine, stderr);
            }
            throw new InvalidOperationException($"{ex.Message}{Environment.NewLine}{log}", ex);
        }
    }

    /// <summary>User plus system CPU time of the process so far, in clock ticks (from /proc/&lt;pid&gt;/stat).</summary>
    public long CpuTicks() => ProcessStats.CpuTicks(Pid);

    /// <summary>Resident set size in bytes (VmRSS from /proc/&lt;pid&gt;/status).</summary>
    public long RssBytes() => ProcessStats.RssBytes(Pid);

    /// <summary>Asks the server to stop (closes its stdin), and kills it if it has not exited in time.</summary>
    public async ValueTask DisposeAsync()
    {
        _stopping = true;
        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.Close();
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try
                {
                    await _process.WaitForExitAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    _process.Kill();
                    await _process.WaitForExitAsync();
                }
            }
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
    }
}

using System.Diagnostics;
using System.Globalization;

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
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
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

        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start a server process.");
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var stderr = new List<string>();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                listening.TrySetException(new InvalidOperationException($"Server {name} closed stdout before listening."));
            }
            else if (e.Data.StartsWith(BenchServer.ListeningPrefix, StringComparison.Ordinal))
            {
                listening.TrySetResult(new Uri(e.Data[BenchServer.ListeningPrefix.Length..]));
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (stderr)
                {
                    if (stderr.Count < MaxLoggedLines)
                    {
                        stderr.Add(e.Data);
                    }
                }
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var uri = await listening.Task.WaitAsync(StartTimeout);
            return new ServerProcess(process, name, uri, stderr);
        }
        catch (Exception ex)
        {
            try
            {
                process.Kill();
            }
            catch (InvalidOperationException)
            {
            }
            string log;
            lock (stderr)
            {
                log = string.Join(Environment.NewLine, stderr);
            }
            throw new InvalidOperationException($"Server {name} ({mode}) did not start: {ex.Message}{Environment.NewLine}{log}", ex);
        }
    }

    /// <summary>User plus system CPU time of the process so far, in clock ticks (from /proc/&lt;pid&gt;/stat).</summary>
    public long CpuTicks()
    {
        if (!OperatingSystem.IsLinux())
        {
            _process.Refresh();
            return (long)(_process.TotalProcessorTime.TotalSeconds * 100);
        }
        var stat = File.ReadAllText($"/proc/{Pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // After "pid (comm) ": state is field 3, utime field 14, stime field 15.
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }

    /// <summary>Resident set size in bytes (VmRSS from /proc/&lt;pid&gt;/status).</summary>
    public long RssBytes()
    {
        if (!OperatingSystem.IsLinux())
        {
            _process.Refresh();
            return _process.WorkingSet64;
        }
        foreach (var line in File.ReadLines($"/proc/{Pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                var kb = line["VmRSS:".Length..].Trim().Split(' ')[0];
                return long.Parse(kb, CultureInfo.InvariantCulture) * 1024;
            }
        }
        return 0;
    }

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

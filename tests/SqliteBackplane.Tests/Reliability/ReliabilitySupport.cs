using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using SqliteBackplane.Tests.Infrastructure;
using Xunit;

namespace SqliteBackplane.Tests.Reliability;

/// <summary>
/// A fact that needs root and permission to mount file systems (tmpfs). On a machine without them it is skipped at
/// discovery time, so the runner reports it as skipped with the reason, never as a silent pass.
/// </summary>
public sealed class MountFactAttribute : FactAttribute
{
    public MountFactAttribute()
    {
        if (Tmpfs.UnavailableReason is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>A small tmpfs mounted for one test (needs root), so a test can fill the disk without touching the machine's.</summary>
public sealed class Tmpfs : IDisposable
{
    private static readonly Lazy<string?> s_unavailable = new(Probe);

    private Tmpfs(string directory)
    {
        Directory = directory;
    }

    /// <summary>Why tmpfs tests cannot run here, or null when they can.</summary>
    public static string? UnavailableReason => s_unavailable.Value;

    /// <summary>The mount point.</summary>
    public string Directory { get; }

    public static Tmpfs Mount(long sizeBytes)
    {
        var directory = Path.Combine(Path.GetTempPath(), "sqlitebackplane-tmpfs", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        Shell.Run("mount", "-t", "tmpfs", "-o", $"size={sizeBytes.ToString(CultureInfo.InvariantCulture)},mode=0700", "tmpfs", directory);
        return new Tmpfs(directory);
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        // Lazy: a server process may still hold files open for a moment after being killed.
        Shell.TryRun("umount", "-l", Directory);
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "needs Linux tmpfs (mount -t tmpfs)";
        }

        if (Environment.UserName != "root" && Environment.GetEnvironmentVariable("USER") != "root")
        {
            return $"needs root to mount a small tmpfs for the full-disk test (running as '{Environment.UserName}')";
        }

        try
        {
            using var probe = Mount(1024 * 1024);
            File.WriteAllText(Path.Combine(probe.Directory, "probe"), "ok");
            return null;
        }
        catch (Exception ex)
        {
            return $"cannot mount a tmpfs here ({ex.Message.Split('\n')[0].Trim()}); a container without CAP_SYS_ADMIN, for example";
        }
    }
}

/// <summary>Runs a command-line program and fails with its stderr when it fails.</summary>
internal static class Shell
{
    public static string Run(string program, params string[] args)
    {
        var startInfo = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            startInfo.ArgumentList.Add(arg);
        }

        using var process = Process.Start(startInfo)!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        if (!process.WaitForExit(30_000) || process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed ({(process.HasExited ? process.ExitCode : -1)}): {error}");
        }

        return output;
    }

    public static void TryRun(string program, params string[] args)
    {
        try
        {
            Run(program, args);
        }
        catch (Exception)
        {
        }
    }
}

/// <summary>Plain SQLite access to a backplane file, as an operator or another program would have.</summary>
internal static class RawSqlite
{
    public static SqliteConnection Open(string path)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, DefaultTimeout = 30 }.ToString());
        connection.Open();
        return connection;
    }

    public static long Scalar(string path, string sql, params (string Name, object Value)[] parameters)
    {
        using var connection = Open(path);
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    public static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}

/// <summary>What a server process wrote that a healthy backplane never writes.</summary>
internal static partial class ServerLogs
{
    /// <summary>
    /// Lines reporting an unhandled exception anywhere, or logged by the backplane at Error/Critical level ("fail:"/"crit:").
    /// SignalR's own "Failed to invoke hub method" lines are not counted: tests make hub methods fail on purpose.
    /// </summary>
    public static IReadOnlyList<string> ErrorLines(ServerProcess server) =>
        server.Output.Split('\n').Where(line => ErrorLine().IsMatch(line)).Select(l => l.TrimEnd()).ToList();

    public static void AssertNoErrors(ServerProcess server)
    {
        var errors = ErrorLines(server);
        Assert.True(errors.Count == 0,
            $"{server.Name} logged {errors.Count} error or unhandled-exception lines:{Environment.NewLine}{string.Join(Environment.NewLine, errors.Take(20))}");
    }

    [GeneratedRegex(@"Unhandled|\] (fail|crit): SqliteBackplane", RegexOptions.CultureInvariant)]
    private static partial Regex ErrorLine();
}

/// <summary>Reads a process's resident memory from /proc, as <c>ps</c> would.</summary>
internal static class ProcessMemory
{
    public static long WorkingSetBytes(int processId)
    {
        foreach (var line in File.ReadLines($"/proc/{processId}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                var kilobytes = line["VmRSS:".Length..].Trim().Split(' ')[0];
                return long.Parse(kilobytes, CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException($"/proc/{processId}/status has no VmRSS line.");
    }
}

/// <summary>
/// A connection for a manager driven directly (like <see cref="FakeClient"/>) that records every Receive message in
/// the background, so a test can poll what arrived without a read pending on the pipe.
/// </summary>
internal sealed class RecordingFakeClient : IAsyncDisposable
{
    private readonly Infrastructure.DuplexPipe _application;
    private readonly Microsoft.AspNetCore.SignalR.Protocol.IHubProtocol _protocol = new Microsoft.AspNetCore.SignalR.Protocol.JsonHubProtocol();
    private readonly List<string> _messages = [];
    private readonly Task _pump;

    public RecordingFakeClient(string? userId = null)
    {
        var (transport, application) = Infrastructure.DuplexPipe.CreatePair();
        _application = application;
        var context = new Microsoft.AspNetCore.Connections.DefaultConnectionContext(Guid.NewGuid().ToString("N"), transport, application);
        Connection = new FakeHubConnectionContext(context, _protocol) { UserIdentifier = userId };
        _pump = Task.Run(PumpAsync);
    }

    public Microsoft.AspNetCore.SignalR.HubConnectionContext Connection { get; }

    public string ConnectionId => Connection.ConnectionId;

    public List<string> Messages
    {
        get
        {
            lock (_messages)
            {
                return [.. _messages];
            }
        }
    }

    public bool HasReceived(string message)
    {
        lock (_messages)
        {
            return _messages.Contains(message);
        }
    }

    private async Task PumpAsync()
    {
        var reader = _application.Input;
        while (true)
        {
            var result = await reader.ReadAsync();
            var buffer = result.Buffer;
            while (_protocol.TryParseMessage(ref buffer, FakeClientBinder.Instance, out var message))
            {
                if (message is Microsoft.AspNetCore.SignalR.Protocol.InvocationMessage { Target: ClientMethodsReceive } invocation && invocation.Arguments.Length == 1)
                {
                    lock (_messages)
                    {
                        _messages.Add(invocation.Arguments[0]?.ToString() ?? "");
                    }
                }
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                return;
            }
        }
    }

    private const string ClientMethodsReceive = SqliteBackplane.TestServer.ClientMethods.Receive;

    public async ValueTask DisposeAsync()
    {
        await _application.Output.CompleteAsync();
        await _application.Input.CompleteAsync();
        await Task.WhenAny(_pump, Task.Delay(1000));
    }
}

using System.Diagnostics;
using Microsoft.Data.Sqlite;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.MultiProcess;

/// <summary>Wake sockets across processes: forged node rows, and two OS users on one machine.</summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class WakeSocketProcessTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    private const string SecondUser = "sqlitebp-second";

    [Fact]
    public async Task A_forged_node_row_cannot_make_a_server_delete_an_ordinary_file()
    {
        await StartAsync(new TestServerSettings { DatabasePath = Database.Path }, "reaper");
        var precious = Path.Combine(Database.Directory, "precious.txt");
        await File.WriteAllTextAsync(precious, "keep me");
        // A real leftover, which the reaper must delete, so the test sees the reaper act on endpoints at all.
        var leftover = Core.WakeSocketTests.DeadSocket(SocketDirectory.Prepare(SocketDirectory.Path()));

        var forged = InsertDeadNodeRow("unix:" + precious);
        var dead = InsertDeadNodeRow("unix:" + leftover);

        await Eventually.BecomesTrueAsync(() => !NodeRowExists(forged) && !NodeRowExists(dead), TimeSpan.FromSeconds(15), "the server reaps both node rows");
        await Eventually.BecomesTrueAsync(() => !File.Exists(leftover), TimeSpan.FromSeconds(15), "the reaper deletes the dead node's socket");
        Assert.True(File.Exists(precious), "A node row naming an ordinary file made the server delete it.");
    }

    [Fact]
    public async Task A_second_os_user_gets_wake_ups_of_its_own()
    {
        if (Environment.UserName != "root")
        {
            Output.WriteLine("Skipped: creating and running as a second OS user needs root.");
            return;
        }

        // The first user (root) has its socket directory already; the second user starts after it.
        await StartAsync(new TestServerSettings { DatabasePath = Database.Path }, "root's server");
        EnsureUserExists(SecondUser);
        var directory = Directory.CreateDirectory(Path.Combine(Database.Directory, "second")).FullName;
        Run("chown", SecondUser, directory);
        var settings = new TestServerSettings { DatabasePath = Path.Combine(directory, "backplane.db"), ParentProcessId = Environment.ProcessId };

        var started = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var log = new OutputLog("second user", Output);
        var startInfo = new ProcessStartInfo("runuser") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        // The build output may sit where only root can look (a checkout under a 0700 temporary directory, as CI's is):
        // the second user runs its own copy of the server, readable by everyone.
        var serverCopy = Path.Combine(Database.Directory, "server");
        CopyDirectory(Path.GetDirectoryName(TestServerLocation.AssemblyPath)!, serverCopy);
        Run("chmod", "-R", "a+rX", serverCopy);
        var assemblyCopy = Path.Combine(serverCopy, Path.GetFileName(TestServerLocation.AssemblyPath));
        // Also its working directory (the host's default content root), which the second user must be able to open.
        startInfo.WorkingDirectory = serverCopy;
        foreach (var argument in (string[])["-u", SecondUser, "--", TestServerLocation.DotnetHost, "exec", assemblyCopy, .. settings.ToArguments()])
        {
            startInfo.ArgumentList.Add(argument);
        }

        startInfo.Environment["HOME"] = directory;
        using var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            log.Add("err", e.Data);
            if (e.Data.Contains("started on", StringComparison.Ordinal) || e.Data.Contains("wake-ups are unavailable", StringComparison.Ordinal))
            {
                started.TrySetResult(e.Data);
            }
        };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { log.Add("out", e.Data); } };
        process.Exited += (_, _) => started.TrySetException(new InvalidOperationException($"The second user's server exited with {process.ExitCode}:{Environment.NewLine}{log}"));
        process.Start();
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        try
        {
            var line = await started.Task.DefaultTimeout("the second user's server to start its node");

            Assert.True(line.Contains("wake-ups: unix datagram socket", StringComparison.Ordinal), $"The second user's server has no wake-ups:{Environment.NewLine}{log}");
            Assert.Contains($"/sqlite-backplane-{UserId(SecondUser)}/", ReadEndpoints(settings.DatabasePath), StringComparison.Ordinal);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    private string InsertDeadNodeRow(string endpoint)
    {
        var nodeId = Guid.NewGuid().ToString("N");
        RawSqlite.Execute(Database, $"INSERT INTO \"{SqliteBackplaneOptions.DefaultTablePrefix}nodes\" (node_id, machine_name, process_id, started_at, heartbeat_at, wake_endpoint) VALUES ($node, 'forged', 1, 0, 0, $endpoint)",
            ("$node", nodeId), ("$endpoint", endpoint));
        return nodeId;
    }

    private bool NodeRowExists(string nodeId) => BackplaneTables.AnyRowMentions(Database, SqliteBackplaneOptions.DefaultTablePrefix, "nodes", nodeId);

    private static string ReadEndpoints(string databasePath)
    {
        using var connection = new SqliteConnection($"Data Source={databasePath};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT group_concat(wake_endpoint, ' ') FROM \"{SqliteBackplaneOptions.DefaultTablePrefix}nodes\"";
        return command.ExecuteScalar() as string ?? "";
    }

    private static void EnsureUserExists(string user)
    {
        if (RunForExitCode("id", "-u", user).ExitCode != 0)
        {
            Run("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user);
        }
    }

    private static string UserId(string user) => Run("id", "-u", user).Trim();

    private static string Run(string program, params string[] args)
    {
        var (exitCode, text) = RunForExitCode(program, args);
        Assert.True(exitCode == 0, $"{program} {string.Join(' ', args)} failed: {text}");
        return text;
    }

    private static (int ExitCode, string Output) RunForExitCode(string program, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(program, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var text = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(10_000), $"{program} did not finish.");
        return (process.ExitCode, text);
    }

    private static void CopyDirectory(string source, string destination)
    {
        foreach (var directory in Directory.EnumerateDirectories(source, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(destination, Path.GetRelativePath(source, directory)));
        }

        Directory.CreateDirectory(destination);
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            File.Copy(file, Path.Combine(destination, Path.GetRelativePath(source, file)));
        }
    }
}

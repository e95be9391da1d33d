using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.Tests.Packaging;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;
using SqliteBackplane.Maintenance;

namespace SqliteBackplane.Tests.Maintenance;

/// <summary>
/// Litestream for real: the litestream v0.3.13 binary (npm package @flydotio/litestream-linux-x64, from the committed
/// lockfile in tests/litestream) replicates the backplane file to a file replica while two server processes exchange
/// messages with the settings docs/litestream.md gives; then the replica is restored to a new path.
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
public sealed partial class LitestreamReplicationTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    private static readonly TimeSpan ExchangeDuration = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(5);
    private const int PayloadBytes = 2048;

    /// <summary>Litestream's RESTART checkpoint threshold in WAL pages (its default is 10,000: 40 MiB at 4 KiB pages).</summary>
    private const int MaxCheckpointPages = 2000;

    [Fact]
    public async Task Litestream_replicates_and_restores_the_backplane_file_while_two_processes_exchange_messages_without_a_failed_write()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.OSArchitecture != Architecture.X64)
        {
            Assert.Fail("The Litestream test needs linux-x64, the platform of the npm package it uses.");
        }

        var litestream = await InstallLitestreamAsync();
        var replica = Path.Combine(Database.Directory, "replica");
        var config = Path.Combine(Database.Directory, "litestream.yml");
        // The configuration docs/litestream.md shows: Litestream does the checkpoints (the backplane's are off), often
        // enough here that several happen during the exchange.
        File.WriteAllText(config, $"""
            dbs:
              - path: {Database.Path}
                monitor-interval: 1s
                checkpoint-interval: 2s
                min-checkpoint-page-count: 100
                max-checkpoint-page-count: {MaxCheckpointPages}
                replicas:
                  - type: file
                    path: {replica}
                    sync-interval: 1s
            """);

        var settings = new TestServerSettings { DatabasePath = Database.Path, RunCheckpoints = false };
        var first = await StartAsync(settings, "server-1");
        var second = await StartAsync(settings, "server-2");
        var alice = await ConnectAsync(first, "alice");
        var bob = await ConnectAsync(second, "bob");

        await using var replicate = await LitestreamProcess.StartAsync(litestream, Output, "replicate", "-config", config);
        await replicate.WaitForOutputAsync("replicating to", TimeSpan.FromSeconds(30));

        // Both processes send to everyone for a while; every send must succeed and reach both clients.
        var walPath = Database.Path + "-wal";
        long maxWal = 0;
        // The WAL header's checkpoint sequence number (bytes 12-15) changes each time the WAL starts over after a
        // checkpoint: the number of distinct values seen is how often Litestream's checkpoints recycled the WAL.
        var walGenerations = new HashSet<uint>();
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                if (ReadWalHeader(walPath) is ({ } length, { } sequence))
                {
                    maxWal = Math.Max(maxWal, length);
                    walGenerations.Add(sequence);
                }

                await Task.Delay(50, CancellationToken.None);
            }
        });

        var padding = new string('x', PayloadBytes);
        var sent = 0;
        var started = Stopwatch.StartNew();
        // A steady rate, as an app's traffic is: how far the WAL grows past Litestream's threshold before its next
        // checkpoint is the write rate times its monitor interval, so a flat-out sender would measure only how fast
        // this machine writes (sends return once queued, so a flat-out loop is several times faster than the commits).
        using var pace = new PeriodicTimer(TimeSpan.FromMilliseconds(10));
        while (started.Elapsed < ExchangeDuration && await pace.WaitForNextTickAsync())
        {
            await Task.WhenAll(
                alice.InvokeAsync(nameof(TestHub.SendAll), $"a{sent} {padding}"),
                bob.InvokeAsync(nameof(TestHub.SendAll), $"b{sent} {padding}"));
            sent++;
            if (sent % 100 == 0)
            {
                // Keep the clients' queues short; every message must arrive.
                await alice.ReceiveAsync(200);
                await bob.ReceiveAsync(200);
            }
        }

        var remaining = 2 * (sent % 100);
        var lastAtAlice = await alice.ReceiveAsync(remaining);
        var lastAtBob = await bob.ReceiveAsync(remaining);
        await sampling.CancelAsync();
        await sampler;
        var seconds = started.Elapsed.TotalSeconds;
        Assert.Contains(lastAtAlice, m => m.StartsWith($"b{sent - 1} ", StringComparison.Ordinal));
        Assert.Contains(lastAtBob, m => m.StartsWith($"a{sent - 1} ", StringComparison.Ordinal));

        var appended = 2L * sent * PayloadBytes;
        long pageSize;
        using (var connection = new SqliteConnection($"Data Source={Database.Path};Mode=ReadOnly;Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA page_size";
            pageSize = (long)command.ExecuteScalar()!;
        }

        // Litestream looks at the WAL once per monitor interval, so it may grow by a few seconds' writes past the
        // threshold before a RESTART checkpoint: four times the threshold leaves room for that on a fast machine.
        var bound = 4L * MaxCheckpointPages * (pageSize + 24);
        Output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"sent {2 * sent} messages of {PayloadBytes} B in {seconds:0.0} s ({2 * sent / seconds:0} msg/s, {appended / 1048576.0:0.0} MiB of payload); " +
            $"largest WAL {maxWal / 1048576.0:0.00} MiB (bound {bound / 1048576.0:0.00} MiB); WAL started over {walGenerations.Count - 1} time(s)"));

        // Litestream did the checkpoints (the backplane's are off): the WAL started over again and again, and stayed
        // near Litestream's RESTART threshold, however much went through it.
        Assert.True(walGenerations.Count >= 3, $"The WAL started over {walGenerations.Count - 1} time(s): Litestream did not keep checkpointing it.");
        Assert.True(maxWal <= bound, $"The WAL grew to {maxWal} bytes, past {bound}: Litestream's checkpoints did not keep it bounded.");

        // Let the last writes reach the replica, then stop Litestream and restore to a new path.
        await replicate.StopAsync();
        var restored = Path.Combine(Database.Directory, "restored.db");
        var restore = await CommandRunner.RunAsync(litestream, Database.Directory, TimeSpan.FromMinutes(2), "restore", "-config", config, "-o", restored, Database.Path);
        Output.WriteLine(restore.Output);
        restore.EnsureSuccess("litestream restore");

        using (var connection = new SqliteConnection($"Data Source={restored};Mode=ReadOnly;Pooling=False"))
        {
            connection.Open();
            using var check = connection.CreateCommand();
            check.CommandText = "PRAGMA integrity_check";
            Assert.Equal("ok", check.ExecuteScalar());
        }

        var statistics = await new SqliteBackplaneMaintenance(new SqliteBackplaneOptions { ConnectionString = $"Data Source={restored}" })
            .Statistics.GetStatisticsAsync().DefaultTimeout();
        Assert.Equal(SqliteBackplaneOptions.DefaultTablePrefix, statistics.TablePrefix);
        Output.WriteLine($"restored: {statistics.MessageCount} message rows, {statistics.NodeCount} nodes, schema version {statistics.SchemaVersion}");

        // No write of either process failed or even logged a lock problem while Litestream held its locks.
        foreach (var server in new[] { first, second })
        {
            Assert.DoesNotMatch(LockTrouble(), server.Output);
        }
    }

    /// <summary>The WAL file's length and its header's checkpoint sequence number, or nulls while it has no header.</summary>
    private static (long? Length, uint? Sequence) ReadWalHeader(string walPath)
    {
        try
        {
            using var wal = new FileStream(walPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            Span<byte> header = stackalloc byte[16];
            return wal.Length >= 32 && wal.Read(header) == 16
                ? (wal.Length, System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(header[12..]))
                : (null, null);
        }
        catch (FileNotFoundException)
        {
            return (null, null);
        }
    }

    [GeneratedRegex(@"database is locked|SQLITE_BUSY|WriteFailed|write of \d+ operations .* failed|timed out", RegexOptions.IgnoreCase)]
    private static partial Regex LockTrouble();

    /// <summary>The litestream binary from tests/litestream, installed with npm ci from the lockfile when missing.</summary>
    private async Task<string> InstallLitestreamAsync()
    {
        var directory = Path.Combine(RepositoryRoot.Path, "tests", "litestream");
        var binary = Path.Combine(directory, "node_modules", "@flydotio", "litestream-linux-x64", "litestream");
        if (!File.Exists(binary))
        {
            Output.WriteLine($"Installing litestream: npm ci in {directory}");
            var install = await CommandRunner.RunAsync("npm", directory, InstallTimeout, "ci", "--no-audit", "--no-fund");
            install.EnsureSuccess($"npm ci in {directory} (needs Node.js 18+ with npm)");
        }

        var version = await CommandRunner.RunAsync(binary, directory, TimeSpan.FromSeconds(30), "version");
        Output.WriteLine($"litestream {version.EnsureSuccess("litestream version").Output.Trim()}");
        return binary;
    }

    /// <summary>A running <c>litestream</c> command with its output captured; stopped with SIGTERM, killed on dispose.</summary>
    private sealed class LitestreamProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly OutputLog _log;

        private LitestreamProcess(Process process, OutputLog log)
        {
            _process = process;
            _log = log;
        }

        public static Task<LitestreamProcess> StartAsync(string binary, ITestOutputHelper output, params string[] arguments)
        {
            var startInfo = CommandRunner.StartInfo(binary, Path.GetDirectoryName(binary)!, arguments);
            var log = new OutputLog("litestream", output);
            var process = new Process { StartInfo = startInfo };
            process.OutputDataReceived += (_, e) => Add(log, "out", e.Data);
            process.ErrorDataReceived += (_, e) => Add(log, "err", e.Data);
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return Task.FromResult(new LitestreamProcess(process, log));
        }

        public Task WaitForOutputAsync(string text, TimeSpan timeout) =>
            Eventually.BecomesTrueAsync(() => _log.ToString().Contains(text, StringComparison.Ordinal), timeout, $"litestream to print '{text}'");

        public async Task StopAsync()
        {
            if (!_process.HasExited)
            {
                _ = SendSignal(_process.Id, SigTerm);
            }

            await _process.WaitForExitAsync().DefaultTimeout("litestream to exit after SIGTERM");
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }

            _process.Dispose();
        }

        private static void Add(OutputLog log, string stream, string? line)
        {
            if (line is not null)
            {
                log.Add(stream, line);
            }
        }

        private const int SigTerm = 15;

        [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        private static extern int SendSignal(int pid, int signal);
    }
}

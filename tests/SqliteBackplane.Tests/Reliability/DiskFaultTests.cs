using System.Diagnostics;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Reliability;

/// <summary>
/// The file system misbehaves under a running backplane (DESIGN.md property 8): the disk fills up, the file turns
/// read-only, the file or its directory is removed. Sends must fail with clear exceptions naming the file (or keep
/// working and keep delivering), nothing reported as failed may be delivered, and the node must recover without a
/// restart once the condition clears. Two nodes (managers built from separate options, as two processes are) share
/// the file; a third node started after a removal must meet the old ones on the new file.
/// The health check follows: Unhealthy while the disk is full, Healthy again once space is freed.
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class DiskFaultTests(ITestOutputHelper output)
{
    private static readonly TimeSpan RecoveryTimeout = TimeSpan.FromSeconds(20);

    [MountFact]
    public async Task Full_disk_fails_sends_with_a_clear_IOException_and_sends_work_again_once_space_is_freed()
    {
        using var tmpfs = Tmpfs.Mount(8 * 1024 * 1024);
        var path = Path.Combine(tmpfs.Directory, "backplane.db");
        using var database = new TempDatabase();
        using var sender = DirectManagers.Create(database, o => o.ConnectionString = $"Data Source={path}");
        using var receiver = DirectManagers.Create(database, o => o.ConnectionString = $"Data Source={path}");
        await using var local = new RecordingFakeClient();
        await using var remote = new RecordingFakeClient();
        await sender.OnConnectedAsync(local.Connection).DefaultTimeout();
        await receiver.OnConnectedAsync(remote.Connection).DefaultTimeout();
        await sender.SendAllAsync(ClientMethods.Receive, ["before"]).DefaultTimeout();

        var filler = Path.Combine(tmpfs.Directory, "filler");
        FillDisk(filler);
        var big = new string('x', 256 * 1024);
        Exception? failure = null;
        var acknowledged = new List<string> { "before" };
        var failed = new List<string>();
        for (var i = 0; i < 64 && failure is null; i++)
        {
            var message = $"full-{i}-{big}";
            try
            {
                await sender.SendAllAsync(ClientMethods.Receive, [message]).DefaultTimeout();
                acknowledged.Add(message);
                // A send returns once queued: wait for its commit, so the next send starts knowing how it went.
                await sender.Node.Writes.WhenWrittenAsync().DefaultTimeout();
            }
            catch (Exception ex) when (ex is not TimeoutException)
            {
                failure = ex;
                failed.Add(message);
            }
        }

        // A send that had returned and then met the full disk is not delivered, but it is counted (and logged).
        var lostAfterReturning = (int)sender.Node.Admission.Failures.Count;
        output.WriteLine($"{lostAfterReturning} send(s) returned before the writer met the full disk.");
        Assert.InRange(lostAfterReturning, 0, 1);
        failed.AddRange(acknowledged.Skip(acknowledged.Count - lostAfterReturning));
        acknowledged.RemoveRange(acknowledged.Count - lostAfterReturning, lostAfterReturning);
        Assert.NotNull(failure);
        output.WriteLine($"With the disk full, a send failed with {failure.GetType().Name}: {failure.Message}");
        Assert.IsType<IOException>(failure);
        Assert.Contains("is full", failure.Message);
        Assert.Contains(path, failure.Message);
        var whileFull = await CheckHealthAsync(sender);
        Assert.Equal(HealthStatus.Unhealthy, whileFull.Status);
        Assert.Contains("cannot be written", whileFull.Description);
        Assert.Contains("is full", whileFull.Description);

        File.Delete(filler);
        // Writable again; a send lost after it had returned keeps the check Degraded for a while, saying so.
        var afterFreed = await CheckHealthAsync(sender);
        Assert.Equal(lostAfterReturning > 0 ? HealthStatus.Degraded : HealthStatus.Healthy, afterFreed.Status);
        if (lostAfterReturning > 0)
        {
            Assert.Contains("sends that had returned failed to be written", afterFreed.Description);
        }

        // Without any restart: the next sends succeed and reach both nodes' connections.
        await sender.SendAllAsync(ClientMethods.Receive, ["after"]).DefaultTimeout("a send once space was freed");
        // Ordered before the other node's next send once committed (a send returns once queued).
        await sender.Node.Writes.WhenWrittenAsync().DefaultTimeout();
        await receiver.SendAllAsync(ClientMethods.Receive, ["after-from-receiver"]).DefaultTimeout("a send from the other node once space was freed");
        foreach (var client in new[] { local, remote })
        {
            await Eventually.BecomesTrueAsync(() => client.HasReceived("after-from-receiver"), RecoveryTimeout, "both nodes deliver again");
            var messages = client.Messages;
            Assert.Equal([.. acknowledged, "after", "after-from-receiver"], messages.Where(m => m.Length < 100 || acknowledged.Contains(m)).ToList());
            Assert.DoesNotContain(messages, failed.Contains);
        }
    }

    [Fact]
    public async Task Read_only_file_while_running_fails_sends_clearly_and_they_work_again_when_writable()
    {
        using var database = new TempDatabase();
        using var sender = DirectManagers.Create(database);
        using var receiver = DirectManagers.Create(database);
        await using var remote = new RecordingFakeClient();
        await receiver.OnConnectedAsync(remote.Connection).DefaultTimeout();
        await sender.SendAllAsync(ClientMethods.Receive, ["before"]).DefaultTimeout();

        Exception failure;
        Exception[] failures;
        // chattr +i makes the database and its WAL unwritable even for root and even through open descriptors.
        Shell.Run("chattr", "+i", database.Path, database.Path + "-wal");
        try
        {
            // The first send may return before the writer meets the read-only file (a send returns once queued); the
            // writer's failure then makes the next sends fail at once.
            failure = await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                for (var i = 0; i < 3; i++)
                {
                    await sender.SendAllAsync(ClientMethods.Receive, ["while-read-only"]).DefaultTimeout();
                    await sender.Node.Writes.WhenWrittenAsync().DefaultTimeout();
                }
            });
            output.WriteLine($"With the file read-only, a send failed with {failure.GetType().Name}: {failure.Message}");
            var again = await Assert.ThrowsAnyAsync<Exception>(() => sender.SendAllAsync(ClientMethods.Receive, ["still-read-only"]).DefaultTimeout());
            output.WriteLine($"The next send failed with {again.GetType().Name}: {again.Message}");
            failures = [failure, again];
            Assert.InRange(sender.Node.Admission.Failures.Count, 0, 1);
        }
        finally
        {
            Shell.Run("chattr", "-i", database.Path, database.Path + "-wal");
        }

        // The node probes a failing file every 250 ms; once a probe commits, sends are accepted again.
        await Eventually.BecomesTrueAsync(() => !sender.Node.IsFileFailing, RecoveryTimeout, "the node to notice the file is writable again");
        await sender.SendAllAsync(ClientMethods.Receive, ["after"]).DefaultTimeout("a send once the file is writable again");
        await Eventually.BecomesTrueAsync(() => remote.HasReceived("after"), RecoveryTimeout, "the other node delivers again");
        Assert.Equal(["before", "after"], remote.Messages);
        Assert.All(failures, ex =>
        {
            Assert.IsNotType<TimeoutException>(ex);
            Assert.Contains(database.Path, ex.Message);
            Assert.True(ex.Message.Contains("read-only", StringComparison.Ordinal),
                $"A send to a file made read-only while running must say so, not: {ex.GetType().Name}: {ex.Message}");
        });
    }

    [Fact]
    public Task Deleted_database_file_while_running_is_noticed_and_the_nodes_meet_again_on_the_new_file() =>
        RemovedWhileRunningAsync(database =>
        {
            foreach (var suffix in new[] { "", "-wal", "-shm" })
            {
                File.Delete(database.Path + suffix);
            }
        });

    [Fact]
    public Task Removed_directory_while_running_is_noticed_and_the_nodes_meet_again_once_it_exists() =>
        RemovedWhileRunningAsync(database =>
        {
            Directory.Delete(database.Directory, recursive: true);
            Directory.CreateDirectory(database.Directory);
        });

    /// <summary>
    /// After the removal, a send either fails with an exception naming the file or reaches a node that opened the path
    /// afterwards: a node that keeps writing into the removed file splits the backplane in two without a word.
    /// </summary>
    private async Task RemovedWhileRunningAsync(Action<TempDatabase> remove)
    {
        using var database = new TempDatabase();
        using var old = DirectManagers.Create(database);
        await using var oldClient = new RecordingFakeClient();
        await old.OnConnectedAsync(oldClient.Connection).DefaultTimeout();
        await old.SendAllAsync(ClientMethods.Receive, ["before"]).DefaultTimeout();
        await Eventually.BecomesTrueAsync(() => oldClient.HasReceived("before"), RecoveryTimeout, "the first message arrives");

        remove(database);
        using var newcomer = DirectManagers.Create(database);
        await using var newClient = new RecordingFakeClient();
        await newcomer.OnConnectedAsync(newClient.Connection).DefaultTimeout("a node started after the removal");

        var errors = new List<Exception>();
        var stopwatch = Stopwatch.StartNew();
        var attempt = 0;
        bool Met() => oldClient.Messages.Any(m => m.StartsWith("new-", StringComparison.Ordinal)) && newClient.Messages.Any(m => m.StartsWith("old-", StringComparison.Ordinal));
        while (!Met() && stopwatch.Elapsed < RecoveryTimeout)
        {
            attempt++;
            foreach (var (manager, name) in new[] { (old, "old"), (newcomer, "new") })
            {
                try
                {
                    await manager.SendAllAsync(ClientMethods.Receive, [$"{name}-{attempt}"]).DefaultTimeout();
                }
                catch (Exception ex) when (ex is not TimeoutException)
                {
                    errors.Add(ex);
                }
            }

            // Paces the probes; the loop ends on what the clients received, not on this delay.
            await Task.Delay(200);
        }

        Assert.True(Met(),
            $"After {attempt} rounds in {stopwatch.ElapsedMilliseconds} ms, the node that had the removed file and a node started on the path afterwards " +
            $"still do not deliver each other's messages (old node's client got {oldClient.Messages.Count(m => m.StartsWith("new-", StringComparison.Ordinal))} from the new node, " +
            $"new node's client got {newClient.Messages.Count(m => m.StartsWith("old-", StringComparison.Ordinal))} from the old one); " +
            $"{errors.Count} sends failed: {string.Join(" | ", errors.Select(e => $"{e.GetType().Name}: {e.Message}").Distinct().Take(5))}. " +
            "The old node keeps using the removed file without a word: the backplane is split in two.");
        output.WriteLine($"The nodes met again after {stopwatch.ElapsedMilliseconds} ms and {attempt} rounds; {errors.Count} sends failed meanwhile.");
        foreach (var error in errors.DistinctBy(e => e.Message))
        {
            output.WriteLine($"  {error.GetType().Name}: {error.Message}");
            Assert.Contains(database.Path, error.Message);
        }
    }

    /// <summary>Runs the backplane's health check against the manager's own node, as the registered check would.</summary>
    private static async Task<HealthCheckResult> CheckHealthAsync(SqliteHubLifetimeManager<TestHub> manager)
    {
        using var check = new SqliteBackplane.Health.SqliteBackplaneHealthCheck(
            Microsoft.Extensions.Options.Options.Create(manager.Node.Options), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, TimeSpan.FromSeconds(5));
        var context = new HealthCheckContext
        {
            Registration = new HealthCheckRegistration("sqlite-backplane", check, HealthStatus.Unhealthy, tags: null),
        };
        return await check.CheckHealthAsync(context).DefaultTimeout();
    }

    private static void FillDisk(string path)
    {
        var chunk = new byte[64 * 1024];
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.WriteThrough);
        try
        {
            while (true)
            {
                stream.Write(chunk);
            }
        }
        catch (IOException)
        {
            // ENOSPC: the file system is full.
        }

        // Fill the last partial chunk byte by byte.
        try
        {
            while (true)
            {
                stream.Write(chunk, 0, 1);
            }
        }
        catch (IOException)
        {
        }
    }
}

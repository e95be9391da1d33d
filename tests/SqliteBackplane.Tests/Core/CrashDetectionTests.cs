using Microsoft.AspNetCore.SignalR;
using Microsoft.Data.Sqlite;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Internal.Interop;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Core;

/// <summary>
/// Crash detection through node lock files: a node whose lock file in this user's socket directory is locked is alive,
/// whatever its heartbeat; one whose lock was released by the kernel (its process died) is reaped at once, long before
/// the node timeout. The "other node" here is a node row plus a lock file this test locks and releases, as a process
/// would by living and dying.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class CrashDetectionTests : IDisposable
{
    private const int OwnerReadWrite = 0b110_000_000;

    // The probe runs every 250 ms; generous for a loaded two-core machine, far below the 60 s node timeout.
    private static readonly TimeSpan ReapTimeout = TimeSpan.FromSeconds(5);

    private readonly TempDatabase _database = new();
    private readonly List<string> _lockFiles = [];
    private readonly List<int> _descriptors = [];

    [Fact]
    public async Task A_node_whose_lock_is_held_is_not_reaped_and_one_whose_lock_was_released_is_reaped_at_once()
    {
        using var survivor = CreateSurvivor();
        await survivor.Node.EnsureStartedAsync().DefaultTimeout();
        var otherNode = NewNodeId();
        var fd = HoldLock(otherNode);
        InsertNode(otherNode, Environment.MachineName, connectionId: "ghost");
        var invocation = survivor.InvokeConnectionAsync<int>("ghost", ClientMethods.Compute, [1]);
        await survivor.Node.RunHeartbeatAsync().DefaultTimeout();

        await survivor.Node.RunCrashProbeAsync().DefaultTimeout();
        await survivor.Node.RunCrashProbeAsync().DefaultTimeout();

        Assert.Equal(1L, Scalar($"SELECT count(*) FROM signalr_nodes WHERE node_id = '{otherNode}'"));
        Assert.False(invocation.IsCompleted, "A client result to a connection of a node whose lock is held must keep waiting.");

        // The kernel releases a dead process's locks; closing the descriptor does the same.
        // The node's own probe timer notices (every 250 ms), with a heartbeat 30 s away and the node timeout at 60 s.
        Release(fd);

        var ex = await Assert.ThrowsAsync<HubException>(() => invocation).TimeoutAfter(ReapTimeout, "the client result to fail");
        Assert.Equal("Connection disconnected.", ex.Message);
        Assert.Equal(0L, Scalar($"SELECT count(*) FROM signalr_nodes WHERE node_id = '{otherNode}'"));
        Assert.Equal(0L, Scalar("SELECT count(*) FROM signalr_connections WHERE connection_id = 'ghost'"));
        await Eventually.BecomesTrueAsync(() => !File.Exists(LockPath(otherNode)), ReapTimeout, "the dead node's lock file is removed");
    }

    [Fact]
    public async Task A_node_of_another_machine_is_never_reaped_by_a_lock_probe()
    {
        using var survivor = CreateSurvivor();
        await survivor.Node.EnsureStartedAsync().DefaultTimeout();
        var otherNode = NewNodeId();
        // An unlocked lock file named after the node: here it can only be a coincidence, never evidence.
        Release(HoldLock(otherNode));
        InsertNode(otherNode, "another-machine", connectionId: "remote");
        await survivor.Node.RunHeartbeatAsync().DefaultTimeout();

        await survivor.Node.RunCrashProbeAsync().DefaultTimeout();

        Assert.Equal(1L, Scalar($"SELECT count(*) FROM signalr_nodes WHERE node_id = '{otherNode}'"));
        Assert.Equal(1L, Scalar("SELECT count(*) FROM signalr_connections WHERE connection_id = 'remote'"));
    }

    [Fact]
    public async Task A_node_without_a_lock_file_here_is_left_to_the_heartbeat()
    {
        using var survivor = CreateSurvivor();
        await survivor.Node.EnsureStartedAsync().DefaultTimeout();
        var otherNode = NewNodeId();
        InsertNode(otherNode, Environment.MachineName, connectionId: "other-user");
        await survivor.Node.RunHeartbeatAsync().DefaultTimeout();

        await survivor.Node.RunCrashProbeAsync().DefaultTimeout();

        Assert.Equal(1L, Scalar($"SELECT count(*) FROM signalr_nodes WHERE node_id = '{otherNode}'"));
    }

    [Fact]
    public async Task A_running_node_holds_its_lock_file_and_removes_it_when_it_stops()
    {
        var node = CreateSurvivor();
        await node.Node.EnsureStartedAsync().DefaultTimeout();
        var path = LockPath(node.Node.NodeId);
        Assert.True(File.Exists(path), "A running node must hold a lock file in this user's socket directory.");
        Assert.Equal(Internal.Node.NodeLockFile.ProbeResult.Alive, Internal.Node.NodeLockFile.Probe(node.Node.NodeId));

        node.Dispose();
        await node.Node.StopAsync().DefaultTimeout();

        Assert.False(File.Exists(path), "A node that stops must remove its lock file.");
    }

    private SqliteHubLifetimeManager<TestHub> CreateSurvivor() =>
        // Heartbeats far apart and a long node timeout: only the lock probe can reap within the test.
        DirectManagers.Create(_database, options =>
        {
            options.HeartbeatInterval = TimeSpan.FromSeconds(30);
            options.NodeTimeout = TimeSpan.FromSeconds(60);
        });

    private static string NewNodeId() => Guid.NewGuid().ToString("N");

    private static string LockPath(string nodeId) => Path.Combine(SocketDirectory.Path(), nodeId + ".lock");

    private int HoldLock(string nodeId)
    {
        var path = LockPath(nodeId);
        _lockFiles.Add(path);
        var fd = Libc.Open(path, Libc.OpenFlags(create: true), OwnerReadWrite);
        Assert.True(fd >= 0, $"Could not create {path}.");
        Assert.Equal(0, Libc.Flock(fd, Libc.LockExclusive | Libc.LockNonBlocking));
        _descriptors.Add(fd);
        return fd;
    }

    private void Release(int fd)
    {
        _descriptors.Remove(fd);
        Libc.Close(fd);
    }

    private void InsertNode(string nodeId, string machine, string connectionId)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO signalr_nodes (node_id, machine_name, process_id, started_at, heartbeat_at, wake_endpoint) VALUES ($node, $machine, 999999, $now, $now, NULL);
            INSERT INTO signalr_connections (hub, connection_id, user_id, node_id, connected_at) VALUES ($hub, $connection, 'u', $node, $now);
            """;
        command.Parameters.AddWithValue("$node", nodeId);
        command.Parameters.AddWithValue("$machine", machine);
        command.Parameters.AddWithValue("$now", now);
        command.Parameters.AddWithValue("$hub", typeof(TestHub).FullName!);
        command.Parameters.AddWithValue("$connection", connectionId);
        command.ExecuteNonQuery();
    }

    private long Scalar(string sql)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)command.ExecuteScalar()!;
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_database.ConnectionString + ";Pooling=False;Default Timeout=30");
        connection.Open();
        return connection;
    }

    public void Dispose()
    {
        foreach (var fd in _descriptors)
        {
            Libc.Close(fd);
        }

        foreach (var path in _lockFiles)
        {
            File.Delete(path);
        }

        _database.Dispose();
    }
}

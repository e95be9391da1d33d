using Microsoft.Extensions.Logging;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane.Internal.Node;

/// <summary>
/// Notices within a fraction of a second that another node on this machine died, through its lock file (see
/// <see cref="NodeLockFile"/>): probes every other node of this machine every <see cref="ProbeInterval"/>, and at once
/// when a wake datagram to one was refused. A node found dead is removed exactly as the heartbeat reaper removes a
/// silent one (<see cref="NodeRowRemoval"/>), through the writer. Nodes of other machines, and nodes whose lock file is
/// not in this user's directory, are never probed: heartbeats cover them.
/// </summary>
internal sealed class NodeCrashWatch(NodeMembership membership, Action<WriteOperation> enqueue, ILogger logger)
{
    /// <summary>How often the other nodes of this machine are probed when nothing asks sooner.</summary>
    public static readonly TimeSpan ProbeInterval = TimeSpan.FromMilliseconds(250);

    private readonly SemaphoreSlim _probeNow = new(0, 1);

    /// <summary>Asks for a probe now (a wake datagram was refused). Any thread; never blocks.</summary>
    public void ProbeSoon()
    {
        if (_probeNow.CurrentCount == 0)
        {
            try
            {
                _probeNow.Release();
            }
            catch (SemaphoreFullException)
            {
                // Another caller asked first.
            }
        }
    }

    public async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                await _probeNow.WaitAsync(ProbeInterval, stopping);
                await ProbeAsync(stopping);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Probes the other nodes of this machine once, and removes those that are gone.</summary>
    public async Task ProbeAsync(CancellationToken stopping = default)
    {
        List<NodeMembership.PeerNode>? gone = null;
        foreach (var peer in membership.RemoteNodes)
        {
            // A node row of another machine (a container or host sharing the file) names a lock file that is not ours.
            if (string.Equals(peer.MachineName, Environment.MachineName, StringComparison.Ordinal)
                && NodeLockFile.Probe(peer.NodeId) == NodeLockFile.ProbeResult.Dead)
            {
                (gone ??= []).Add(peer);
            }
        }

        if (gone is null)
        {
            return;
        }

        try
        {
            var reap = membership.ReapGone(gone);
            enqueue(reap);
            foreach (var dead in await reap.Task)
            {
                var processId = gone.Find(peer => peer.NodeId == dead.NodeId)!.ProcessId;
                BackplaneEvents.NodeReapedByLockProbe(logger, dead.NodeId, processId, dead.Connections);
                WakeEndpoints.DeleteStale(dead.Endpoint);
            }
        }
        catch (Exception) when (stopping.IsCancellationRequested)
        {
            // This node is stopping: its writer no longer takes the removal, and the other nodes do it.
            return;
        }
        catch (Exception ex)
        {
            BackplaneEvents.HeartbeatFailed(logger, ex);
            return;
        }

        foreach (var peer in gone)
        {
            NodeLockFile.DeleteIfDead(peer.NodeId);
        }
    }
}

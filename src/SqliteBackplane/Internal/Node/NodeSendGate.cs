using System.Diagnostics;
using SqliteBackplane.Internal.Diagnostics;
using SqliteBackplane.Internal.Flow;
using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane.Internal.Node;

/// <summary>
/// Lets a node's queued sends in: admitted by <see cref="SendAdmission"/>, queued on the writer, never waiting for a
/// commit. It waits first only for the node to start, while the file is unusable (it then fails at once with the
/// writer's error), or while the admission holds sends back because delivery is behind (backpressure).
/// </summary>
internal sealed class NodeSendGate(BackplaneNode node, NodeWriteQueue writes, TimeSpan busyTimeout)
{
    private SendAdmission Admission => node.Admission;

    /// <summary>
    /// Queues a send and returns once it is queued, in order, in this process: its caller never waits for a commit.
    /// A failure after it returned is logged, counted and reported by the health check.
    /// </summary>
    public Task SendAsync(QueuedAppendOperation operation, CancellationToken cancellationToken)
    {
        if (node.IsStarted && writes.FileFailure is null && Admission.CanEnterNow)
        {
            try
            {
                Accept(operation);
                return Task.CompletedTask;
            }
            catch (InvalidOperationException ex)
            {
                return Task.FromException(ex);
            }
        }

        return SendAfterWaitingAsync(operation, cancellationToken);
    }

    private async Task SendAfterWaitingAsync(QueuedAppendOperation operation, CancellationToken cancellationToken)
    {
        await node.EnsureStartedAsync();
        if (node.IsStopped)
        {
            throw BackplaneErrors.Stopped(node.Database.Path);
        }

        ThrowIfFileFailing();
        if (!Admission.CanEnterNow)
        {
            var started = Stopwatch.GetTimestamp();
            var onRemoteHold = Admission.Remote.LeadExceeded;
            if (!await Admission.WaitAsync(busyTimeout, cancellationToken))
            {
                ThrowIfFileFailing();
                if (Admission.Remote.LeadExceeded && Admission.Remote.Hold is { } position)
                {
                    throw BackplaneErrors.RemoteHoldTimeout(node.Database.Path, Stopwatch.GetElapsedTime(started), position);
                }

                throw BackplaneErrors.BackpressureTimeout(node.Database.Path, Stopwatch.GetElapsedTime(started));
            }

            node.Metrics.SendWaited(Stopwatch.GetElapsedTime(started));
            if (onRemoteHold)
            {
                node.Metrics.SendWaitedOnRemote(Stopwatch.GetElapsedTime(started));
            }

            ThrowIfFileFailing();
        }

        Accept(operation);
    }

    private void ThrowIfFileFailing()
    {
        if (writes.FileFailure is { } failure)
        {
            throw BackplaneErrors.FileStillFailing(failure);
        }
    }

    private void Accept(WriteOperation operation)
    {
        Admission.Entered();
        if (!writes.TryEnqueue(operation))
        {
            Admission.Left(failure: null);
            throw BackplaneErrors.Stopped(node.Database.Path);
        }
    }
}

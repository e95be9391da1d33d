using System.Diagnostics;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane.Internal.Node;

// Sends: admitted by SendAdmission, queued on the writer, never waiting for a commit.
internal sealed partial class BackplaneNode
{
    /// <summary>
    /// Queues a send and returns once it is queued, in order, in this process: its caller never waits for a commit.
    /// It waits first only while the file is unusable (it then fails at once with the writer's error), or while
    /// <see cref="Admission"/> holds sends back because delivery is behind (backpressure). A failure after it
    /// returned is logged, counted and reported by the health check.
    /// </summary>
    public Task SendAsync(QueuedAppendOperation operation, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _startTask) is { IsCompletedSuccessfully: true } && _writer!.FileFailure is null && Admission.CanEnterNow)
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
        await EnsureStartedAsync();
        if (IsStopped)
        {
            throw BackplaneErrors.Stopped(Database.Path);
        }

        ThrowIfFileFailing();
        if (!Admission.CanEnterNow)
        {
            var started = Stopwatch.GetTimestamp();
            var onRemoteHold = Admission.RemoteLeadExceeded;
            if (!await Admission.WaitAsync(_options.BusyTimeout, cancellationToken))
            {
                ThrowIfFileFailing();
                if (Admission.RemoteLeadExceeded && Admission.RemoteHold is { } position)
                {
                    throw BackplaneErrors.RemoteHoldTimeout(Database.Path, Stopwatch.GetElapsedTime(started), position);
                }

                throw BackplaneErrors.BackpressureTimeout(Database.Path, Stopwatch.GetElapsedTime(started));
            }

            Metrics.SendWaited(Stopwatch.GetElapsedTime(started));
            if (onRemoteHold)
            {
                Metrics.SendWaitedOnRemote(Stopwatch.GetElapsedTime(started));
            }

            ThrowIfFileFailing();
        }

        Accept(operation);
    }

    private void ThrowIfFileFailing()
    {
        if (_writer!.FileFailure is { } failure)
        {
            throw BackplaneErrors.FileStillFailing(failure);
        }
    }

    private void Accept(WriteOperation operation)
    {
        Admission.Entered();
        if (!TryEnqueue(operation))
        {
            Admission.Left(failure: null);
            throw BackplaneErrors.Stopped(Database.Path);
        }
    }
}

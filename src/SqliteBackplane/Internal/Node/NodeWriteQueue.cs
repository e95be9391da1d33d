using SqliteBackplane.Internal.Diagnostics;
using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane.Internal.Node;

/// <summary>
/// The order of one node's writes: everything the node queues reaches its writer through here, and the last one queued
/// is remembered, so later direct sends, presence reads and tests can wait behind it. Once shutdown has begun only the
/// final unregistration is accepted.
/// </summary>
internal sealed class NodeWriteQueue(string databasePath, CancellationToken stopping)
{
    private readonly object _lock = new();
    private WriterLoop? _writer;
    private WriteOperation? _last;

    /// <summary>The writer the queue feeds; set once, at start, before anything is queued.</summary>
    public WriterLoop? Writer
    {
        get => Volatile.Read(ref _writer);
        set => Volatile.Write(ref _writer, value);
    }

    /// <summary>Why the last write batch failed, when the reason concerns the whole file (new sends fail at once); null otherwise.</summary>
    public Exception? FileFailure => Writer?.FileFailure;

    /// <summary>The operation queued last; what later direct sends and presence reads wait behind.</summary>
    public WriteOperation? Last
    {
        get
        {
            lock (_lock)
            {
                return _last;
            }
        }
    }

    /// <summary>Queues <paramref name="operation"/>, or fails it when the node is stopping.</summary>
    public void Enqueue(WriteOperation operation, bool duringShutdown = false)
    {
        if (!TryEnqueue(operation, duringShutdown))
        {
            operation.Fail(BackplaneErrors.Stopped(databasePath));
        }
    }

    /// <summary>Queues <paramref name="operation"/>; false when the node is stopping (only the final unregistration is accepted then).</summary>
    public bool TryEnqueue(WriteOperation operation, bool duringShutdown = false)
    {
        lock (_lock)
        {
            if (stopping.IsCancellationRequested && !duringShutdown || !_writer!.TryEnqueue(operation))
            {
                return false;
            }

            _last = operation;
            return true;
        }
    }

    /// <summary>Completes once everything queued before the call has been committed (or has failed).</summary>
    public async Task WhenWrittenAsync()
    {
        var last = Last;
        if (last is not null && !last.Completion.IsCompleted)
        {
            // Only the order matters here; the write's own caller (or the failure count, for a queued send) sees its failure.
            await last.Completion.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }
}

using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// The one writer of a node: a dedicated thread that drains every queued operation into a single transaction
/// (group commit), committing at once when the queue holds one operation and batching naturally under load. The
/// transaction runs inside the cross-process write lock, so SQLite never waits on its own lock.
/// </summary>
internal sealed class WriterLoop : IDisposable
{
    private const int MaxBatch = 512;

    private readonly BlockingCollection<WriteOperation> _queue = new(new ConcurrentQueue<WriteOperation>());
    private readonly BackplaneDatabase _database;
    private readonly CrossProcessWriteLock _writeLock;
    private readonly TimeSpan _busyTimeout;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly IWriterEvents _events;
    private bool _reinitializeOnOpen;
    private readonly BackplaneMetrics _metrics;
    private readonly string _nodeId;
    private readonly long _messageExpiryMs;
    private SqliteConnection? _connection;
    private WriterContext? _context;
    private WriteTransaction? _transaction;
    private long _appendedBefore;

    // Created once, so a batch allocates no delegate.
    private readonly Action<List<WriteOperation>> _executeBatch;
    private readonly Action<List<WriteOperation>> _batchRolledBack;
    private Thread? _thread;

    public WriterLoop(BackplaneDatabase database, CrossProcessWriteLock writeLock, SqliteBackplaneOptions options, TimeProvider timeProvider,
        string nodeId, ILogger logger, BackplaneMetrics metrics, IWriterEvents events)
    {
        _database = database;
        _writeLock = writeLock;
        _busyTimeout = options.BusyTimeout;
        _messageExpiryMs = (long)options.MessageExpiry.TotalMilliseconds;
        _timeProvider = timeProvider;
        _nodeId = nodeId;
        _logger = logger;
        _events = events;
        _executeBatch = ExecuteOperations;
        _batchRolledBack = ForgetRolledBackAppends;
        _metrics = metrics;
    }

    /// <summary>
    /// The error of the last batch when it failed for a reason that concerns the whole file (disk full, lock timeout,
    /// read-only, missing or corrupt file); null once a batch commits again. While set, new sends fail at once.
    /// </summary>
    public Exception? FileFailure => Volatile.Read(ref _fileFailure);

    private Exception? _fileFailure;

    /// <summary>How many transactions this loop committed; several operations share one under load.</summary>
    public long CommitCount => Volatile.Read(ref _commitCount);

    private long _commitCount;

    /// <summary>Adopts the connection opened at startup and starts the writer thread.</summary>
    public void Start(SqliteConnection connection)
    {
        Adopt(connection);
        _thread = new Thread(Run) { IsBackground = true, Name = "SqliteBP writer" };
        _thread.Start();
    }

    /// <summary>Queues an operation. Returns false when the loop has stopped accepting work.</summary>
    public bool TryEnqueue(WriteOperation operation)
    {
        try
        {
            return _queue.TryAdd(operation);
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Stops accepting work, finishes what is queued, and waits for the thread to end.</summary>
    public void Stop(TimeSpan timeout)
    {
        _queue.CompleteAdding();
        _thread?.Join(timeout);
    }

    private void Adopt(SqliteConnection connection)
    {
        if (ReferenceEquals(connection, _connection))
        {
            return;
        }

        DisposeConnection();
        _connection = connection;
        _context = new WriterContext(connection, _database.Queries, _nodeId, _messageExpiryMs);
        _transaction = new WriteTransaction(connection, _writeLock, _busyTimeout, _database.Path, _logger);
    }

    private void Run()
    {
        var batch = new List<WriteOperation>(MaxBatch);
        try
        {
            foreach (var first in _queue.GetConsumingEnumerable())
            {
                batch.Add(first);
                while (batch.Count < MaxBatch && _queue.TryTake(out var next))
                {
                    batch.Add(next);
                }

                ExecuteBatch(batch);
                batch.Clear();
                _events.BatchFinished(FileFailure);
            }
        }
        finally
        {
            DisposeConnection();
        }
    }

    private void ExecuteBatch(List<WriteOperation> batch)
    {
        try
        {
            EnsureConnection();
            CommitBatch(batch);
        }
        catch (Exception ex) when (batch.Count > 1 && !IsDatabaseWide(ex))
        {
            // One operation broke the shared transaction: run each alone so only the culprit fails.
            BackplaneEvents.BatchRetriedIndividually(_logger, batch.Count, ex);
            foreach (var operation in batch)
            {
                ExecuteBatch([operation]);
            }
        }
        catch (Exception ex)
        {
            var error = ex switch
            {
                TimeoutException => ex,
                // SQLite reports a write the OS refused (chattr +i, chmod, read-only mount) as a generic I/O error.
                SqliteException { SqliteErrorCode: BackplaneErrors.SqliteIoError } when SqliteNative.IsWriteRefused(_database.Path) => BackplaneErrors.ReadOnly(_database.Path, ex),
                _ => BackplaneErrors.WriteFailed(_database.Path, ex),
            };
            BackplaneEvents.WriteFailed(_logger, batch.Count, _database.Path, ex);
            _metrics.WriteFailed(batch.Count);
            if (IsDatabaseWide(ex))
            {
                Volatile.Write(ref _fileFailure, error);
            }

            foreach (var operation in batch)
            {
                operation.Fail(error);
            }

            if (ex is SqliteException { SqliteErrorCode: not (BackplaneErrors.SqliteBusy or BackplaneErrors.SqliteLocked or BackplaneErrors.SqliteFull) })
            {
                // I/O or corruption errors can leave the connection unusable: open a fresh one for the next batch.
                DisposeConnection();
            }
        }
    }

    private void CommitBatch(List<WriteOperation> batch)
    {
        var context = _context!;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        context.BeginBatch(_timeProvider.GetUtcNow().ToUnixTimeMilliseconds());
        _appendedBefore = context.LastAppendedId;
        _transaction!.Run(batch, _executeBatch, _batchRolledBack);
        Interlocked.Increment(ref _commitCount);
        Volatile.Write(ref _fileFailure, null);

        _metrics.Committed(batch.Count, System.Diagnostics.Stopwatch.GetElapsedTime(started));
        _metrics.Published(context.PublishedInBatch);

        // Wake readers before completing callers: a caller that awaits its write may immediately wait for the reader.
        _events.Committed(context);
        foreach (var operation in batch)
        {
            operation.Complete();
        }
    }

    private void ExecuteOperations(List<WriteOperation> batch)
    {
        foreach (var operation in batch)
        {
            operation.Execute(_context!);
        }
    }

    // Rolled-back ids will be reused by later rows; nobody may wait for them.
    private void ForgetRolledBackAppends(List<WriteOperation> batch)
    {
        var context = _context!;
        context.LastAppendedId = _appendedBefore;
        context.AppendedInBatch = false;
        foreach (var operation in batch)
        {
            operation.ResetPosition(_appendedBefore);
        }
    }

    private void EnsureConnection()
    {
        if (_connection is not null && SqliteNative.HasMoved(_connection))
        {
            // Someone deleted or replaced the file: writing on would split the backplane. Reopen the path.
            BackplaneEvents.DatabaseReplaced(_logger, _database.Path);
            DisposeConnection();
            _reinitializeOnOpen = true;
        }

        if (_connection is null)
        {
            var connection = _database.Open();
            try
            {
                if (_reinitializeOnOpen)
                {
                    _events.FileReplaced(connection);
                    _reinitializeOnOpen = false;
                }
            }
            catch
            {
                connection.Dispose();
                throw;
            }

            Adopt(connection);
        }
    }

    private static bool IsDatabaseWide(Exception ex) =>
        ex is TimeoutException ||
        ex is SqliteException { SqliteErrorCode: BackplaneErrors.SqliteBusy or BackplaneErrors.SqliteLocked or BackplaneErrors.SqliteFull
            or BackplaneErrors.SqliteReadOnly or BackplaneErrors.SqliteIoError or BackplaneErrors.SqliteCorrupt or BackplaneErrors.SqliteNotADatabase or BackplaneErrors.SqliteCantOpen } ||
        ex is InvalidOperationException;

    private void DisposeConnection()
    {
        _context?.Dispose();
        _transaction?.Dispose();
        _connection?.Dispose();
        _context = null;
        _transaction = null;
        _connection = null;
    }

    public void Dispose()
    {
        _queue.Dispose();
    }
}

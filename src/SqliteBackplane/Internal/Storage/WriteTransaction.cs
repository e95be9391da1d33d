using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// The one way anything writes to the file: take the cross-process write lock, <c>BEGIN IMMEDIATE</c>, do the work,
/// <c>COMMIT</c> (or <c>ROLLBACK</c> when the work throws), release the lock. Holding the lock before SQLite's own
/// lock keeps SQLite out of its busy sleeps. Used by the writer loop, a node's startup and file replacement, and the
/// maintenance API. One instance per connection; the three statements are prepared once.
/// </summary>
internal sealed class WriteTransaction : IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly CrossProcessWriteLock _writeLock;
    private readonly TimeSpan _busyTimeout;
    private readonly string _path;
    private readonly ILogger? _logger;
    private readonly RawStatement _begin;
    private readonly RawStatement _commit;
    private readonly RawStatement _rollback;

    public WriteTransaction(SqliteConnection connection, CrossProcessWriteLock writeLock, TimeSpan busyTimeout, string path, ILogger? logger = null)
    {
        _connection = connection;
        _writeLock = writeLock;
        _busyTimeout = busyTimeout;
        _path = path;
        _logger = logger;
        _begin = new RawStatement(connection, SqliteQueries.BeginImmediate);
        _commit = new RawStatement(connection, SqliteQueries.Commit);
        _rollback = new RawStatement(connection, SqliteQueries.Rollback);
    }

    /// <summary>
    /// Runs <paramref name="work"/> in one write transaction. When it throws, <paramref name="rolledBack"/> runs
    /// before the rollback and the exception propagates.
    /// </summary>
    public void Run<TState>(TState state, Action<TState> work, Action<TState>? rolledBack = null)
    {
        if (!_writeLock.TryEnter(_busyTimeout))
        {
            throw BackplaneErrors.WriteLockTimeout(_path, _busyTimeout);
        }

        try
        {
            _begin.Execute();
            try
            {
                work(state);
                _commit.Execute();
            }
            catch
            {
                rolledBack?.Invoke(state);
                RollbackIfOpen();
                throw;
            }
        }
        finally
        {
            _writeLock.Exit();
        }
    }

    /// <summary>Runs <paramref name="work"/> in one write transaction and returns its result.</summary>
    public T Run<T>(Func<T> work)
    {
        var result = default(T)!;
        Run(work, w => result = w());
        return result;
    }

    private void RollbackIfOpen()
    {
        try
        {
            if (_connection.Handle is { IsInvalid: false } handle && SQLitePCL.raw.sqlite3_get_autocommit(handle) == 0)
            {
                _rollback.Execute();
            }
        }
        catch (SqliteException ex)
        {
            // The original failure is what the caller needs; a failed rollback is only reported.
            if (_logger is not null)
            {
                BackplaneEvents.RollbackFailed(_logger, ex);
            }
        }
    }

    public void Dispose()
    {
        _begin.Dispose();
        _commit.Dispose();
        _rollback.Dispose();
    }
}

using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;
using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// A dedicated thread with its own connection for reads that callers await (presence queries) and for WAL
/// checkpoints, so that no SQLite call runs on a request thread and none delays the writer or the reader.
/// </summary>
internal sealed class SqliteWorker : IDisposable
{
    private readonly BlockingCollection<Action<SqliteConnection?, Exception?>> _queue = new(new ConcurrentQueue<Action<SqliteConnection?, Exception?>>());
    private readonly BackplaneDatabase _database;
    private readonly Thread _thread;

    public SqliteWorker(BackplaneDatabase database)
    {
        _database = database;
        _thread = new Thread(Run) { IsBackground = true, Name = "SqliteBP queries" };
        _thread.Start();
    }

    public Task<T> RunAsync<T>(Func<SqliteConnection, T> work, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        void Execute(SqliteConnection? connection, Exception? openError)
        {
            if (openError is not null)
            {
                completion.TrySetException(openError);
                return;
            }

            if (cancellationToken.IsCancellationRequested)
            {
                completion.TrySetCanceled(cancellationToken);
                return;
            }

            try
            {
                completion.TrySetResult(work(connection!));
            }
            catch (Exception ex)
            {
                completion.TrySetException(ex is SqliteException ? BackplaneErrors.WriteFailed(_database.Path, ex) : ex);
            }
        }

        try
        {
            _queue.Add(Execute, CancellationToken.None);
        }
        catch (InvalidOperationException)
        {
            completion.TrySetException(BackplaneErrors.Stopped(_database.Path));
        }

        return completion.Task;
    }

    private void Run()
    {
        SqliteConnection? connection = null;
        try
        {
            foreach (var work in _queue.GetConsumingEnumerable())
            {
                Exception? openError = null;
                if (connection is null)
                {
                    try
                    {
                        connection = _database.Open();
                    }
                    catch (Exception ex)
                    {
                        openError = ex;
                    }
                }

                work(connection, openError);
                if (connection is not null && connection.State != System.Data.ConnectionState.Open)
                {
                    connection.Dispose();
                    connection = null;
                }
            }
        }
        finally
        {
            connection?.Dispose();
        }
    }

    /// <summary>Closes the worker's connection so the next query opens the path afresh (the file was replaced).</summary>
    public void Reopen() => _ = RunAsync(connection =>
    {
        connection.Close();
        return 0;
    });

    public void Stop(TimeSpan timeout)
    {
        _queue.CompleteAdding();
        _thread.Join(timeout);
    }

    public void Dispose() => _queue.Dispose();
}

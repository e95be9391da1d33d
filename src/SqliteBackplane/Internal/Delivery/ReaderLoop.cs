using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane.Internal.Delivery;

/// <summary>
/// The one reader of a node: a dedicated thread that tails the log from its cursor in id order and hands each row
/// to <see cref="RowDispatcher"/>. It sleeps on the <see cref="WakeChannel"/> between reads. Each read is a short
/// read transaction; rows are dispatched after it ends.
/// </summary>
internal sealed class ReaderLoop
{
    private const int BatchSize = 512;

    // Bounds one drain; when rows remain the loop reads again without sleeping.
    private const int MaxBatchesPerDrain = 64;

    private readonly BackplaneDatabase _database;
    private readonly WakeChannel _wake;
    private readonly RowDispatcher _dispatcher;
    private readonly AppliedCursor _cursor;
    private readonly TimeSpan _pollInterval;
    private readonly ILogger _logger;
    private readonly CancellationToken _stopping;
    private readonly List<LogRow> _rows = new(BatchSize);
    private Thread? _thread;
    private bool _moreAvailable;

    public ReaderLoop(BackplaneDatabase database, WakeChannel wake, RowDispatcher dispatcher, AppliedCursor cursor, TimeSpan pollInterval,
        ILogger logger, CancellationToken stopping)
    {
        _database = database;
        _wake = wake;
        _dispatcher = dispatcher;
        _cursor = cursor;
        _pollInterval = pollInterval;
        _logger = logger;
        _stopping = stopping;
    }

    /// <summary>The log's highest id at this reader's last read (for the backlog gauge).</summary>
    public long MaxSeenId { get; private set; }

    private long _resetTo = -1;

    /// <summary>Makes the reader reopen the file and continue from <paramref name="position"/> (the file was replaced).</summary>
    public void RequestReset(long position)
    {
        Interlocked.Exchange(ref _resetTo, position);
        _wake.WakeLocal();
    }

    public void Start()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "SqliteBackplane reader" };
        _thread.Start();
    }

    public void Join(TimeSpan timeout) => _thread?.Join(timeout);

    private void Run()
    {
        SqliteConnection? connection = null;
        SqliteCommand? select = null;
        var failures = 0;
        try
        {
            while (!_stopping.IsCancellationRequested)
            {
                if (!_moreAvailable)
                {
                    _wake.Wait(failures == 0 ? _pollInterval : Backoff(failures));
                }

                if (_stopping.IsCancellationRequested)
                {
                    break;
                }

                var resetTo = Interlocked.Exchange(ref _resetTo, -1);
                if (resetTo >= 0)
                {
                    select?.Dispose();
                    connection?.Dispose();
                    select = null;
                    connection = null;
                    _cursor.Reset(resetTo);
                }

                try
                {
                    if (connection is null)
                    {
                        connection = _database.Open();
                        select = connection.CreateCommand();
                        select.CommandText = _database.Queries.SelectMessagesAfter;
                    }

                    Drain(select!);
                    if (failures > 0)
                    {
                        BackplaneLog.ReaderRecovered(_logger, _database.Path);
                        failures = 0;
                    }
                }
                catch (Exception ex) when (ex is SqliteException or InvalidOperationException or IOException)
                {
                    // Keep serving local connections; reopen and retry after a bounded backoff.
                    if (failures++ == 0)
                    {
                        BackplaneLog.ReaderFailed(_logger, _database.Path, ex);
                    }

                    _moreAvailable = false;
                    select?.Dispose();
                    connection?.Dispose();
                    select = null;
                    connection = null;
                }
            }
        }
        finally
        {
            select?.Dispose();
            connection?.Dispose();
        }
    }

    private TimeSpan Backoff(int failures) => TimeSpan.FromMilliseconds(Math.Min(5000, Math.Max(_pollInterval.TotalMilliseconds, 50 * failures)));

    private void Drain(SqliteCommand select)
    {
        _moreAvailable = false;
        for (var batch = 0; batch < MaxBatchesPerDrain; batch++)
        {
            ReadBatch(select);
            if (_rows.Count == 0)
            {
                // Direct writes waiting on writes that appended nothing (or failed) are ready now.
                _cursor.RunReady();
                return;
            }

            foreach (var row in _rows)
            {
                _dispatcher.Dispatch(row);
                // Per row, so a direct write queued behind this row goes out before the next one.
                _cursor.Advance(row.Id);
            }
            if (_rows.Count < BatchSize)
            {
                return;
            }
        }

        _moreAvailable = true;
    }

    private void ReadBatch(SqliteCommand select)
    {
        _rows.Clear();
        select.Parameters.Clear();
        select.Parameters.AddWithValue("$cursor", _cursor.Applied);
        select.Parameters.AddWithValue("$limit", BatchSize);
        using var reader = select.ExecuteReader();
        while (reader.Read())
        {
            _rows.Add(new LogRow(reader.GetInt64(0), reader.GetString(1), reader.GetInt32(2), reader.GetInt64(3), reader.GetInt64(4), reader.GetFieldValue<byte[]>(5)));
            MaxSeenId = reader.GetInt64(6);
        }
    }
}

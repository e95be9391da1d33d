using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Internal.Diagnostics;
using SqliteBackplane.Internal.Flow;

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
    private readonly SendAdmission _admission;
    private readonly TimeSpan _pollInterval;
    private readonly ILogger _logger;
    private readonly CancellationToken _stopping;
    private readonly List<MessageLogRow> _rows = new(BatchSize);
    private SqliteConnection? _connection;
    private RawStatement? _select;
    private RawStatement? _dataVersion;
    private long _lastDataVersion = -1;
    private Thread? _thread;
    private bool _moreAvailable;

    public ReaderLoop(BackplaneDatabase database, WakeChannel wake, RowDispatcher dispatcher, AppliedCursor cursor, SendAdmission admission,
        TimeSpan pollInterval, ILogger logger, CancellationToken stopping)
    {
        _admission = admission;
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
        _thread = new Thread(Run) { IsBackground = true, Name = "SqliteBP reader" };
        _thread.Start();
    }

    public void Join(TimeSpan timeout) => _thread?.Join(timeout);

    private void Run()
    {
        var failures = 0;
        try
        {
            while (!_stopping.IsCancellationRequested)
            {
                var woken = true;
                if (!_moreAvailable)
                {
                    woken = _wake.Wait(failures == 0 ? _pollInterval : Backoff(failures));
                }

                if (_stopping.IsCancellationRequested)
                {
                    break;
                }

                var resetTo = Interlocked.Exchange(ref _resetTo, -1);
                if (resetTo >= 0)
                {
                    CloseConnection();
                    _cursor.Reset(resetTo);
                }

                try
                {
                    if (_connection is null)
                    {
                        _connection = _database.Open();
                        _select = new RawStatement(_connection, _database.Queries.SelectMessagesAfter);
                        _dataVersion = new RawStatement(_connection, SqliteQueries.DataVersion);
                        _lastDataVersion = -1;
                    }

                    if (woken)
                    {
                        // The next safety poll compares against a fresh version, so it reads the log once more.
                        _lastDataVersion = -1;
                    }
                    else
                    {
                        // The safety poll reads the log only when another connection committed since the last read.
                        var dataVersion = _dataVersion!.ScalarInt64();
                        if (dataVersion == _lastDataVersion)
                        {
                            continue;
                        }

                        _lastDataVersion = dataVersion;
                    }

                    Drain();
                    if (failures > 0)
                    {
                        BackplaneEvents.ReaderRecovered(_logger, _database.Path);
                        failures = 0;
                    }
                }
                catch (Exception ex) when (ex is SqliteException or InvalidOperationException or IOException)
                {
                    // Keep serving local connections; reopen and retry after a bounded backoff.
                    if (failures++ == 0)
                    {
                        BackplaneEvents.ReaderFailed(_logger, _database.Path, ex);
                    }

                    _moreAvailable = false;
                    CloseConnection();
                }
            }
        }
        finally
        {
            CloseConnection();
        }
    }

    private void CloseConnection()
    {
        _select?.Dispose();
        _dataVersion?.Dispose();
        _connection?.Dispose();
        _select = _dataVersion = null;
        _connection = null;
    }

    private TimeSpan Backoff(int failures) => TimeSpan.FromMilliseconds(Math.Min(5000, Math.Max(_pollInterval.TotalMilliseconds, 50 * failures)));

    private void Drain()
    {
        _moreAvailable = false;
        for (var batch = 0; batch < MaxBatchesPerDrain; batch++)
        {
            ReadBatch(_select!);
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

            // Senders paused because this reader was behind may go on.
            _admission.Progress();
            if (_rows.Count < BatchSize)
            {
                return;
            }
        }

        _moreAvailable = true;
    }

    private void ReadBatch(RawStatement select)
    {
        _rows.Clear();
        select.Bind(Columns.MessageAfter.CursorParameter, _cursor.Applied);
        select.Bind(Columns.MessageAfter.LimitParameter, BatchSize);
        try
        {
            while (select.Step())
            {
                _rows.Add(new MessageLogRow(select.Int64(Columns.MessageAfter.Id), HubName(select.Blob(Columns.MessageAfter.Hub)), select.Int32(Columns.MessageAfter.Kind),
                    select.Int64(Columns.MessageAfter.CreatedAt), select.Int64(Columns.MessageAfter.ExpiresAt), select.Blob(Columns.MessageAfter.Body).ToArray()));
                MaxSeenId = select.Int64(Columns.MessageAfter.MaxId);
            }
        }
        finally
        {
            // Ends the read transaction before the rows are dispatched.
            select.Reset();
        }
    }

    // A node serves a handful of hubs: reuse the last name instead of decoding it for every row.
    private byte[] _lastHubBytes = [];
    private string _lastHub = "";

    private string HubName(ReadOnlySpan<byte> utf8)
    {
        if (!utf8.SequenceEqual(_lastHubBytes))
        {
            _lastHubBytes = utf8.ToArray();
            _lastHub = System.Text.Encoding.UTF8.GetString(utf8);
        }

        return _lastHub;
    }
}

using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Core;

/// <summary>
/// The WAL stays bounded (issue 17 item 4, docs/operations.md "Disk use over weeks"): a checkpoint pass reaches the
/// end of the log even while another connection commits all the time, so the log starts over; a WAL held over its
/// bound by a reader is logged once and measured; the node never checkpoints when a replicator owns checkpoints, and
/// stopping leaves the -wal and -shm files in place. The multi-process behaviour is in Reliability/WalBoundTests.
/// </summary>
public sealed class WalCheckpointTests(ITestOutputHelper output)
{
    private const int Passes = 20;

    [Fact]
    public async Task A_pass_under_constant_commits_copies_the_whole_log_back_so_the_next_commit_starts_it_over()
    {
        using var temp = new TempDatabase();
        var database = new BackplaneDatabase(new SqliteBackplaneOptions { ConnectionString = temp.ConnectionString });
        using (var setup = database.Open())
        {
            SchemaSetup.EnableWal(setup, database.Path);
            using var create = setup.CreateCommand();
            create.CommandText = "CREATE TABLE filler (body BLOB NOT NULL)";
            create.ExecuteNonQuery();
        }

        // A writer like the backplane's: the cross-process lock around each one-row transaction, committing flat out.
        using var stop = new CancellationTokenSource();
        var commits = 0L;
        var writer = Task.Factory.StartNew(() =>
        {
            using var connection = database.Open();
            using var writeLock = new CrossProcessWriteLock(database.Path);
            using var transaction = new WriteTransaction(connection, writeLock, TimeSpan.FromSeconds(5), database.Path);
            using var insert = connection.CreateCommand();
            insert.CommandText = "INSERT INTO filler (body) VALUES (zeroblob(2000))";
            while (!stop.IsCancellationRequested)
            {
                transaction.Run(0, _ => insert.ExecuteNonQuery());
                Interlocked.Increment(ref commits);
                // Pacing, as a real writer between batches: a loop that never let go of the lock would starve every waiter.
                NativeSleep.Microseconds(100);
            }
        }, TaskCreationOptions.LongRunning);

        using var checkpoints = database.Open();
        await Eventually.BecomesTrueAsync(() => Interlocked.Read(ref commits) > 100, TimeSpan.FromSeconds(30), "the writer to commit");

        // Without the write lock (a threshold no log reaches): what the backplane did before, every tenth heartbeat.
        var before = await PassesAsync(new WalCheckpointer(database, long.MaxValue));

        // With it (threshold zero: every pass finishes under the lock).
        var after = await PassesAsync(new WalCheckpointer(database, restartThresholdBytes: 0));

        stop.Cancel();
        await writer.DefaultTimeout("the writer to stop");

        // Passes a heartbeat apart, as the scheduler runs them: the writer commits between two passes.
        async Task<List<WalCheckpointPass>> PassesAsync(WalCheckpointer checkpointer)
        {
            var passes = new List<WalCheckpointPass>();
            for (var i = 0; i < Passes; i++)
            {
                var seen = Interlocked.Read(ref commits);
                await Eventually.BecomesTrueAsync(() => Interlocked.Read(ref commits) > seen + 2, TimeSpan.FromSeconds(30), "the writer to commit between passes");
                passes.Add(checkpointer.Run(checkpoints));
            }

            return passes;
        }
        static int Restarts(List<WalCheckpointPass> passes) => passes.Zip(passes.Skip(1)).Count(pair => pair.Second.LogFrames < pair.First.LogFrames);
        output.WriteLine($"{Interlocked.Read(ref commits)} commits; the log started over after {Restarts(before)} of {Passes} concurrent passes and after {Restarts(after)} of {Passes} write-locked ones.");
        output.WriteLine($"Concurrent passes: {string.Join(", ", before.Select(p => $"{p.Outcome} {p.CheckpointedFrames}/{p.LogFrames}"))}");
        output.WriteLine($"Passes that finish under the write lock: {string.Join(", ", after.Select(p => $"{p.Outcome} {p.CheckpointedFrames}/{p.LogFrames}{(p.WriteLocked ? " locked" : "")}"))}");

        Assert.All(after, p => Assert.True(p.WriteLocked && p.Outcome == "complete",
            $"A pass ended {p.Outcome} at {p.CheckpointedFrames} of {p.LogFrames} frames (write-locked: {p.WriteLocked}) although no reader held an older snapshot."));
        // Every complete pass lets the writer's next commit start the log over, so the log never grows past what a few
        // commits between two passes append.
        Assert.Contains(after.Zip(after.Skip(1)), pair => pair.Second.LogFrames < pair.First.LogFrames);
    }

    [Fact]
    public async Task A_reader_that_holds_the_wal_over_its_bound_is_logged_once_and_measured_and_the_log_starts_over_when_it_lets_go()
    {
        using var temp = new TempDatabase();
        var events = new EventRecorder();
        using var walSize = new GaugeListener("sqlitebackplane.wal.size");
        const long maxWalSize = 4L * 1024 * 1024;
        using var manager = new SqliteHubLifetimeManager<TestHub>(events, Options.Create(new SqliteBackplaneOptions
        {
            ConnectionString = temp.ConnectionString,
            HeartbeatInterval = TimeSpan.FromMilliseconds(100),
            NodeTimeout = TimeSpan.FromSeconds(5),
            MaxWalSize = maxWalSize,
        }), new TestProtocolResolver());
        await using var client = new FakeClient();
        await manager.OnConnectedAsync(client.Connection).DefaultTimeout();

        // A reader that keeps one snapshot, as a replicator or a long report query would.
        using var reader = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = temp.Path, Pooling = false }.ToString());
        reader.Open();
        var snapshot = reader.BeginTransaction(deferred: true);
        using (var read = reader.CreateCommand())
        {
            read.Transaction = snapshot;
            read.CommandText = "SELECT count(*) FROM signalr_messages";
            read.ExecuteScalar();
        }

        var payload = new string('x', 16 * 1024);
        for (var i = 0; i < 400 && !events.Has(81); i++)
        {
            await manager.SendAllAsync(ClientMethods.Receive, [payload]).DefaultTimeout();
        }

        await Eventually.BecomesTrueAsync(() => events.Has(81), TimeSpan.FromSeconds(30), "the WAL over its bound to be logged");
        var warnedAt = events.Count(80);
        await Eventually.BecomesTrueAsync(() => events.Count(80) >= warnedAt + 3, TimeSpan.FromSeconds(30), "three more checkpoint passes");
        Assert.Equal(1, events.Count(81));
        Assert.Contains(events.Messages(81), m => m.Contains("over MaxWalSize (4194304 bytes)", StringComparison.Ordinal) && m.Contains("docs/operations.md", StringComparison.Ordinal));
        Assert.Contains(events.Messages(80), m => m.StartsWith("WAL checkpoint partial", StringComparison.Ordinal));
        walSize.Collect();
        Assert.True(walSize.Last > maxWalSize, $"The sqlitebackplane.wal.size gauge reads {walSize.Last}.");

        // Once the reader lets go, a pass copies everything back and the log starts over (the file keeps its size).
        snapshot.Dispose();
        await Eventually.BecomesTrueAsync(() => events.Messages(80).Skip(warnedAt).Any(m => m.StartsWith("WAL checkpoint complete", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(30), "a complete checkpoint after the reader let go");
    }

    [Fact]
    public async Task Stopping_the_last_node_leaves_the_wal_and_shm_files_in_place()
    {
        using var database = new TempDatabase();
        var manager = DirectManagers.Create(database);
        await manager.SendAllAsync(ClientMethods.Receive, ["x"]).DefaultTimeout();

        manager.Dispose();

        // SQLite would checkpoint and delete them when its last connection closes; replicators rely on them staying.
        Assert.True(File.Exists(database.Path + "-wal"));
        Assert.True(File.Exists(database.Path + "-shm"));
    }

    [Fact]
    public async Task With_checkpoints_left_to_a_replicator_the_node_never_checkpoints()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database, o => o.RunCheckpoints = false);
        for (var i = 0; i < 1_100; i++)
        {
            await manager.SendAllAsync(ClientMethods.Receive, [$"m{i}"]).DefaultTimeout();
            // One commit per send (a send returns before its commit, so sends would otherwise share transactions).
            await manager.Node.Writes.WhenWrittenAsync().DefaultTimeout();
        }

        await manager.Node.RunCleanupAsync().DefaultTimeout();

        // Every frame since the first commit is still in the WAL: nothing was copied back into the database.
        using var connection = RawSqlite.Open(database);
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA wal_checkpoint(PASSIVE)";
        using var reader = command.ExecuteReader();
        Assert.True(reader.Read());
        Assert.True(reader.GetInt64(1) >= 1_100, $"WAL frames: {reader.GetInt64(1)}");
    }

    /// <summary>Records each event's id and message.</summary>
    private sealed class EventRecorder : ILogger<SqliteHubLifetimeManager<TestHub>>
    {
        private readonly ConcurrentQueue<(int Id, string Message)> _events = new();

        public bool Has(int id) => _events.Any(e => e.Id == id);

        public int Count(int id) => _events.Count(e => e.Id == id);

        public IReadOnlyList<string> Messages(int id) => [.. _events.Where(e => e.Id == id).Select(e => e.Message)];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            _events.Enqueue((eventId.Id, formatter(state, exception)));
    }

    /// <summary>Reads one observable gauge of the backplane's meter.</summary>
    private sealed class GaugeListener : IDisposable
    {
        private readonly MeterListener _listener = new();
        private long _last;

        public GaugeListener(string name)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == SqliteBackplaneOptions.MeterName && instrument.Name == name)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Exchange(ref _last, Math.Max(Interlocked.Read(ref _last), value)));
            _listener.Start();
        }

        /// <summary>The largest value any node reported at the last <see cref="Collect"/>.</summary>
        public long Last => Interlocked.Read(ref _last);

        public void Collect() => _listener.RecordObservableInstruments();

        public void Dispose() => _listener.Dispose();
    }
}

using Microsoft.Data.Sqlite;

namespace SqliteBackplane.Internal.Storage;

/// <summary>What one checkpoint pass reported: whether another checkpoint held it off, and how far it got.</summary>
internal readonly record struct WalCheckpointPass(bool Busy, long LogFrames, long CheckpointedFrames, bool WriteLocked)
{
    /// <summary>complete (the whole log is in the database), partial (a reader or writer kept some of it) or busy.</summary>
    public string Outcome => Busy ? "busy" : CheckpointedFrames >= LogFrames ? "complete" : "partial";
}

/// <summary>
/// Keeps the WAL bounded with passive checkpoints only (design property 7: never FULL, RESTART or TRUNCATE).
/// <para>
/// Why a plain periodic passive checkpoint is not enough (measured, docs/operations.md "Disk use over weeks"): SQLite
/// starts the log over from its beginning only when a writer finds <em>every</em> frame copied back. A passive checkpoint
/// copies the frames that existed when it started; under steady sends from several processes, others commit while it
/// copies, so it ends a few frames short every time, the log is appended to forever, and each checkpoint has more to
/// copy than the last (a larger log takes longer, which leaves more time for commits to slip in).
/// </para>
/// <para>
/// So a pass runs in two steps. The first copies the bulk while writers carry on. When the log holds at least
/// <c>restartThresholdBytes</c>, the second copies what was appended meanwhile while holding the backplane's
/// cross-process write lock: no backplane writer is inside a transaction or can start one, so it reaches the end of the
/// log unless a reader still holds an older snapshot, and the next commit (of any process) starts the log over unless
/// a reader that began before the pass ended is still reading at that instant (the next pass tries again). Writers
/// wait on the lock, never in SQLite's busy sleeps; the second step copies only a few commits' frames.
/// </para>
/// Runs on the query worker's connection and thread (<see cref="SqliteWorker"/>), one pass at a time.
/// </summary>
internal sealed class WalCheckpointer(BackplaneDatabase database, long restartThresholdBytes)
{
    /// <summary>How long the second step waits for the write lock before it gives up until the next pass.</summary>
    private static readonly TimeSpan WriteLockWait = TimeSpan.FromSeconds(1);

    private long _pageSize;

    /// <summary>The database's page size (one WAL frame per page); read once.</summary>
    public long PageSize(SqliteConnection connection)
    {
        if (_pageSize == 0)
        {
            using var command = SqliteCommands.Create(connection, SqliteQueries.PageSize);
            _pageSize = Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        }

        return _pageSize;
    }

    /// <summary>One pass: returns what the last step reported.</summary>
    public WalCheckpointPass Run(SqliteConnection connection)
    {
        var first = Passive(connection, writeLocked: false);
        if (first.Busy || first.LogFrames * PageSize(connection) < restartThresholdBytes)
        {
            // Another checkpoint runs now (it will finish the job), or the log is still small.
            return first;
        }

        // Even when the first step reports every frame copied, a writer that began its transaction while it ran
        // appends right after it (measured: 0 restarts in 1,200 commits with every pass "complete"); only a pass that
        // no transaction overlaps lets the next one start the log over.

        using var writeLock = new CrossProcessWriteLock(database.Path);
        if (!writeLock.TryEnter(WriteLockWait))
        {
            return first;
        }

        try
        {
            return Passive(connection, writeLocked: true);
        }
        finally
        {
            writeLock.Exit();
        }
    }

    private static WalCheckpointPass Passive(SqliteConnection connection, bool writeLocked)
    {
        using var command = SqliteCommands.Create(connection, SqliteQueries.PassiveCheckpoint);
        using var reader = command.ExecuteReader();
        reader.Read();
        // Busy is 1 when another checkpoint held it off; the frame counts are -1 when the file is not in WAL mode.
        return new WalCheckpointPass(reader.GetInt64(Columns.Checkpoint.Busy) != 0, Math.Max(0, reader.GetInt64(Columns.Checkpoint.LogFrames)),
            Math.Max(0, reader.GetInt64(Columns.Checkpoint.CheckpointedFrames)), writeLocked);
    }
}

namespace SqliteBackplane;

/// <summary>
/// Options for the SQLite SignalR backplane. Every process that points at the same database file
/// (and uses the same <see cref="TablePrefix"/>) acts as one SignalR server.
/// </summary>
public sealed class SqliteBackplaneOptions
{
    /// <summary>The connection string used when none is configured: a file in the host's content root (without a host, the working directory).</summary>
    public const string DefaultConnectionString = "Data Source=signalr-backplane.db";

    /// <summary>
    /// The name of the <see cref="System.Diagnostics.Metrics.Meter"/> the backplane records on (messages published and
    /// delivered, skipped rows, commit batch size and duration, delivery lag, reader backlog, live nodes, connections).
    /// </summary>
    public const string MeterName = "SqliteBackplane";

    /// <summary>The table prefix used when none is configured.</summary>
    public const string DefaultTablePrefix = "signalr_";

    /// <summary>
    /// Gets or sets the Microsoft.Data.Sqlite connection string of the backplane database, for example
    /// <c>Data Source=signalr.db</c>. The file is created when missing; its directory must exist. When the backplane is
    /// added to a host, a relative path is resolved against the host's content root, not the working directory.
    /// In-memory databases are rejected because other processes cannot see them.
    /// Defaults to <see cref="DefaultConnectionString"/>.
    /// </summary>
    public string ConnectionString { get; set; } = DefaultConnectionString;

    /// <summary>
    /// Gets or sets the prefix of every table the backplane creates. Two applications can share one
    /// file by using different prefixes; the backplane can also live inside an application's own database.
    /// Must start with a letter or underscore and contain only ASCII letters, digits and underscores
    /// (at most 64 characters). Defaults to <see cref="DefaultTablePrefix"/>.
    /// </summary>
    public string TablePrefix { get; set; } = DefaultTablePrefix;

    /// <summary>
    /// Gets or sets how long a message row stays deliverable. A process whose reader falls further behind
    /// than this skips the expired rows (and counts them); a background cleanup deletes them.
    /// Must be at least one second. Defaults to 60 seconds.
    /// </summary>
    public TimeSpan MessageExpiry { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Gets or sets how often the reader checks the file for new rows when no wake-up arrived.
    /// Wake-ups normally deliver new rows at once; this poll only bounds the delay if one is lost. Each poll is a
    /// <c>PRAGMA data_version</c> (a few microseconds); the log is read only when another connection committed.
    /// Must be between 1 millisecond and 1 minute. Defaults to 250 milliseconds.
    /// </summary>
    public TimeSpan SafetyPollInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Gets or sets how often this process records that it is alive in the nodes table, and checks for
    /// dead nodes. Must be at least 100 milliseconds and less than <see cref="NodeTimeout"/>. Defaults to 2 seconds.
    /// </summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Gets or sets how long a node may miss heartbeats before a live node declares it dead, removes its
    /// connections and groups, and fails client-result calls waiting on it. Must be at least twice
    /// <see cref="HeartbeatInterval"/>. Defaults to 10 seconds.
    /// </summary>
    public TimeSpan NodeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Gets or sets how long a write waits for the database write lock (held by another process, a backup tool
    /// or a replicator) before the send fails with a <see cref="TimeoutException"/>. Must be at least 1 second.
    /// Defaults to 5 seconds.
    /// </summary>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Gets or sets whether the backplane creates and upgrades its tables at startup. When <see langword="false"/>,
    /// the tables must already exist (created by a previous run or a deployment step). Defaults to <see langword="true"/>.
    /// </summary>
    public bool AutoCreateSchema { get; set; } = true;

    /// <summary>
    /// Gets or sets whether a process that commits rows nudges the readers of the other processes on the file
    /// at once (over a local socket each node registers). When <see langword="false"/>, other processes learn
    /// of new rows only through the <see cref="SafetyPollInterval"/> poll. Defaults to <see langword="true"/>.
    /// </summary>
    public bool EnableWakeups { get; set; } = true;

    /// <summary>
    /// Gets or sets the largest serialized message, in bytes, the backplane accepts (the sum of every hub
    /// protocol's encoding). Larger sends fail with an <see cref="InvalidOperationException"/>.
    /// Must be between 1 KiB and 256 MiB. Defaults to 16 MiB.
    /// </summary>
    public int MaxMessageBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// Gets or sets how many rows the message log may hold (rows stay until they expire) before
    /// <see cref="LogFullMode"/> applies to further sends. Readers that keep up never get near it; it bounds the file
    /// when they do not. Must be at least 100. Defaults to 1,000,000.
    /// </summary>
    public int MaxLogRows { get; set; } = 1_000_000;

    /// <summary>
    /// Gets or sets what a send does when the log is at its capacity: drop the oldest rows (the default) or reject the
    /// send with a <see cref="SqliteBackplaneFullException"/>.
    /// </summary>
    public SqliteBackplaneLogFullMode LogFullMode { get; set; } = SqliteBackplaneLogFullMode.DropOldest;

    /// <summary>
    /// Gets capacities that replace <see cref="MaxLogRows"/> for some sends, keyed by a glob (<c>*</c> and <c>?</c>)
    /// with a prefix: <c>"hub:Notifications*"</c> matches the hub's type name or full name; <c>"group:alerts-*"</c>
    /// matches a group that a group send targets. The smallest matching capacity applies, so low-priority traffic
    /// can be refused (or make room) earlier than the rest. Capacities count rows in the whole log.
    /// </summary>
    public IDictionary<string, int> LogCapacityOverrides { get; } = new Dictionary<string, int>(StringComparer.Ordinal);

    /// <summary>
    /// Gets or sets how many messages from the log may wait for one local connection that is not reading fast
    /// enough. Beyond it, further messages to that connection are dropped (counted in the
    /// <c>sqlitebackplane.messages.dropped</c> metric and logged once per connection), so a slow or dead client never
    /// holds memory or delays anyone else. A connection whose client opted in to resume is closed instead (logged, and
    /// counted in <c>sqlitebackplane.resume.slow_closed</c>): its client resumes from the last message it received, so
    /// nothing is lost silently (a backlog beyond this bound is reported to it as the gap "overflow"). Must be between 1 and 1,000,000. Defaults to 10,000 (a lower bound
    /// turned a receiver that lagged briefly under a flat-out burst into lost messages in the 4-process benchmark).
    /// A connection that still reads but has a twentieth of this waiting makes this process's sends wait
    /// (backpressure) until it has drained to half of that; one that completes no write for a second stops doing so.
    /// </summary>
    public int MaxPendingMessagesPerConnection { get; set; } = 10_000;

    /// <summary>
    /// Gets or sets how many sends this process may have queued but not yet written to the file. A send returns once
    /// it is queued; at this bound further sends wait (backpressure) until the queue has drained to half, so a burst
    /// slows its senders down instead of holding memory. Must be between 16 and 1,000,000. Defaults to 1,024 (two
    /// full group commits). Keep it and <see cref="MaxReaderLag"/> together well under
    /// <see cref="MaxPendingMessagesPerConnection"/>: what is already queued or committed when a slow client starts
    /// pacing senders still reaches it.
    /// </summary>
    public int MaxQueuedMessages { get; set; } = 1_024;

    /// <summary>
    /// Gets or sets how many rows this process's reader may be behind the end of the log before sends from this
    /// process wait (backpressure) until it has caught up to half of it, so the log never runs far ahead of delivery
    /// and messages are not delayed for long. Must be between 16 and 10,000,000. Defaults to 2,048.
    /// </summary>
    public int MaxReaderLag { get; set; } = 2_048;

    /// <summary>
    /// Gets or sets whether the backplane runs passive WAL checkpoints itself (from a background thread, never
    /// TRUNCATE or RESTART), which keep the <c>-wal</c> file under <see cref="MaxWalSize"/>. Set it to
    /// <see langword="false"/> when an external replicator such as Litestream owns checkpoints for this file; the
    /// replicator then bounds the WAL (docs/litestream.md). Defaults to <see langword="true"/>.
    /// </summary>
    public bool RunCheckpoints { get; set; } = true;

    /// <summary>
    /// Gets or sets the size in bytes the <c>-wal</c> file is kept under. Every heartbeat a passive checkpoint copies
    /// the log back into the database; once the log holds a quarter of this size, the checkpoint finishes while holding
    /// the backplane's write lock, so that it reaches the end of the log and the next commit starts the log over from
    /// its beginning (the file never shrinks, so its size is the largest log between two restarts). A reader that
    /// holds one snapshot for longer (a replicator, a long query of the app) can push it past the bound; that is
    /// logged and measured (docs/operations.md, "Disk use over weeks"). With <see cref="RunCheckpoints"/> off it is
    /// only watched. Must be at least 4 MiB. Defaults to 64 MiB.
    /// </summary>
    public long MaxWalSize { get; set; } = 64L * 1024 * 1024;

    /// <summary>
    /// Gets the keys that encrypt message payloads at rest (AES-256-GCM; each key, a string of any length, is derived
    /// to 256 bits). The first key encrypts; all are tried to decrypt, so keys rotate without downtime: add the new key
    /// as the second everywhere, then make it the first, then remove the old one. Connection ids, group names and user
    /// ids stay readable because readers route on them. A row no key can decrypt is skipped, counted and logged.
    /// Empty (the default) stores payloads unencrypted.
    /// </summary>
    public IList<string> EncryptionKeys { get; } = new List<string>();

    /// <summary>
    /// Gets or sets whether clients that opt in (through the <c>SqliteBackplane.Client</c> helper or the npm helper)
    /// can resume: a client that reconnects, to any process on the file, within <see cref="ResumeWindow"/> receives
    /// every message its old connection would have received meanwhile, exactly once and in order, and keeps its
    /// groups; when that is impossible it is told. Connections that do not opt in are not affected. Enable it in every
    /// process on the file. See docs/resume.md. Defaults to <see langword="false"/>.
    /// </summary>
    public bool EnableResume { get; set; }

    /// <summary>
    /// Gets or sets how long after a connection leaves it can be resumed (see <see cref="EnableResume"/>). Must be
    /// more than zero and at most <see cref="MessageExpiry"/>, since the messages to replay must still be in the log.
    /// Null (the default) uses <see cref="MessageExpiry"/>.
    /// </summary>
    public TimeSpan? ResumeWindow { get; set; }

    /// <summary><see cref="ResumeWindow"/>, or <see cref="MessageExpiry"/> when it is null.</summary>
    internal TimeSpan EffectiveResumeWindow => ResumeWindow ?? MessageExpiry;

    /// <summary>The clock for heartbeats, expiry and cleanup; tests replace it.</summary>
    internal TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// The app's node, set by <c>AddSqliteBackplane</c> on the options its container builds: everything built from
    /// these options uses it. Null for options created by hand (a manager constructed directly).
    /// </summary>
    internal Internal.Node.AppBackplaneNode? AppNode { get; set; }
}

namespace SqliteBackplane.Maintenance;

/// <summary>A snapshot of a backplane file, from <see cref="StatisticsReader.GetStatisticsAsync"/>. Row counts come from one read transaction.</summary>
internal sealed class SqliteBackplaneStatistics
{
    /// <summary>Gets the full path of the database file.</summary>
    public required string DatabasePath { get; init; }

    /// <summary>Gets the table prefix the statistics are about.</summary>
    public required string TablePrefix { get; init; }

    /// <summary>Gets the schema version recorded in the meta table.</summary>
    public required int SchemaVersion { get; init; }

    /// <summary>Gets when the snapshot was taken.</summary>
    public required DateTimeOffset CapturedAt { get; init; }

    /// <summary>Gets the size of the database file in bytes (the whole file, including any other tables in it).</summary>
    public required long FileSizeBytes { get; init; }

    /// <summary>Gets the size of the <c>-wal</c> file in bytes, or 0 when there is none.</summary>
    public required long WalSizeBytes { get; init; }

    /// <summary>Gets the bytes of free pages in the database file: roughly what a compacted copy would save.</summary>
    public required long FreeBytes { get; init; }

    /// <summary>Gets the number of rows in the messages table (the log).</summary>
    public required long MessageCount { get; init; }

    /// <summary>Gets how many of <see cref="MessageCount"/> are past their expiry and would be deleted by a cleanup.</summary>
    public required long ExpiredMessageCount { get; init; }

    /// <summary>Gets the lowest message id in the log, or <see langword="null"/> when the log is empty.</summary>
    public required long? FirstMessageId { get; init; }

    /// <summary>Gets the highest message id in the log, or <see langword="null"/> when the log is empty.</summary>
    public required long? LastMessageId { get; init; }

    /// <summary>Gets the age of the oldest row in the log, or <see langword="null"/> when the log is empty.</summary>
    public required TimeSpan? OldestMessageAge { get; init; }

    /// <summary>Gets the number of rows in the nodes table.</summary>
    public required long NodeCount { get; init; }

    /// <summary>Gets the number of rows in the connections table (all hubs).</summary>
    public required long ConnectionCount { get; init; }

    /// <summary>Gets the number of rows in the groups table: one per connection per group.</summary>
    public required long GroupMembershipCount { get; init; }

    /// <summary>Gets every node on the file, live or not, ordered by start time.</summary>
    public required IReadOnlyList<SqliteBackplaneNodeStatus> Nodes { get; init; }

    /// <summary>Gets the number of live nodes in <see cref="Nodes"/>.</summary>
    public int LiveNodeCount => Nodes.Count(n => n.IsLive);
}

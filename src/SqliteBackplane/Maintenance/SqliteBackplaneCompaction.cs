namespace SqliteBackplane.Maintenance;

/// <summary>The outcome of <see cref="FileCompactor.CompactIntoAsync"/>: a compacted copy written beside the live file, which is left untouched.</summary>
internal sealed class SqliteBackplaneCompaction
{
    /// <summary>Gets the full path of the database that was copied.</summary>
    public required string SourcePath { get; init; }

    /// <summary>Gets the full path of the compacted copy.</summary>
    public required string DestinationPath { get; init; }

    /// <summary>Gets the size of the source database file plus its <c>-wal</c> file before the copy, in bytes.</summary>
    public required long SourceBytes { get; init; }

    /// <summary>Gets the size of the compacted copy in bytes.</summary>
    public required long DestinationBytes { get; init; }

    /// <summary>
    /// Gets the number of nodes that were live when the copy was taken (non-zero only when forced). Rows they wrote
    /// after the copy are not in it.
    /// </summary>
    public required int LiveNodeCount { get; init; }
}

namespace SqliteBackplane.Internal.Node;

// What the metrics and the health check read from the node's running parts.
internal sealed partial class BackplaneNode
{
    private long ReaderBacklog()
    {
        var reader = _reader;
        var cursor = Cursor;
        return reader is null || cursor is null ? 0 : Math.Max(0, reader.MaxSeenId - cursor.Applied);
    }

    private int LiveNodes() => _membership.LiveNodes;

    /// <summary>Whether the last write batch failed for a reason that concerns the whole file (new sends fail at once).</summary>
    internal bool IsFileFailing => _writer?.FileFailure is not null;

    private int LocalConnectionCount()
    {
        var count = 0;
        foreach (var handler in Dispatcher.Handlers)
        {
            count += handler.LocalConnectionCount;
        }

        return count;
    }
}

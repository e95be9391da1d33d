using Microsoft.Extensions.Logging;

namespace SqliteBackplane.Internal.Node;

/// <summary>
/// Shares one <see cref="BackplaneNode"/> among the users constructed directly, without a host (tests, the public
/// manager constructor), from the same <see cref="SqliteBackplaneOptions"/> instance, with reference counting. Two
/// managers built from two options instances are two nodes, as two processes would be. An app's node is not here:
/// it is the container's <see cref="AppBackplaneNode"/>.
/// </summary>
internal static class BackplaneNodeRegistry
{
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(15);
    private static readonly Dictionary<SqliteBackplaneOptions, Entry> s_nodes = new(ReferenceEqualityComparer.Instance);

    public static BackplaneNode Acquire(SqliteBackplaneOptions options, ILogger logger)
    {
        lock (s_nodes)
        {
            if (!s_nodes.TryGetValue(options, out var entry) || entry.Node.IsStopped)
            {
                entry = new Entry(new BackplaneNode(options, logger));
                s_nodes[options] = entry;
            }

            entry.References++;
            return entry.Node;
        }
    }

    /// <summary>Drops one reference; the last one stops the node (removing its rows). Never blocks.</summary>
    public static ValueTask ReleaseAsync(BackplaneNode node)
    {
        lock (s_nodes)
        {
            if (!s_nodes.TryGetValue(node.Options, out var entry) || !ReferenceEquals(entry.Node, node) || --entry.References > 0)
            {
                return ValueTask.CompletedTask;
            }

            s_nodes.Remove(node.Options);
        }

        return node.DisposeAsync();
    }

    /// <summary>
    /// Drops one reference for a synchronous <see cref="IDisposable.Dispose"/>: the last one stops the node and waits a
    /// bounded time, so a file deleted right after is not written again. <see cref="ReleaseAsync"/> never blocks.
    /// </summary>
    public static void Release(BackplaneNode node)
    {
        var release = ReleaseAsync(node);
        if (!release.IsCompleted)
        {
            release.AsTask().Wait(StopTimeout);
        }
    }

    private sealed class Entry(BackplaneNode node)
    {
        public BackplaneNode Node { get; } = node;

        public int References { get; set; }
    }
}

using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace SqliteBackplane.Internal.Node;

/// <summary>
/// Shares one <see cref="BackplaneNode"/> among everything built from the same <see cref="SqliteBackplaneOptions"/>
/// instance: in an app that is every hub manager, the presence service and the hosted service (options are a
/// singleton). Two managers built from two options instances are two nodes, as two processes would be.
/// </summary>
internal static class BackplaneNodeRegistry
{
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(15);

    /// <summary>The log category of a node's own events in a host.</summary>
    public const string NodeLogCategory = "SqliteBackplane";
    private static readonly Dictionary<SqliteBackplaneOptions, Entry> s_nodes = new(ReferenceEqualityComparer.Instance);

    public static BackplaneNode Acquire(SqliteBackplaneOptions options, ILogger logger, IMeterFactory? meterFactory = null)
    {
        lock (s_nodes)
        {
            if (!s_nodes.TryGetValue(options, out var entry) || entry.Node.IsStopped)
            {
                // In a host the options carry the app's factories, so the node never depends on which service came first.
                var nodeLogger = options.LoggerFactory?.CreateLogger(NodeLogCategory) ?? logger;
                entry = new Entry(new BackplaneNode(options, nodeLogger, options.MeterFactory ?? meterFactory));
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

using Microsoft.Extensions.Logging;

namespace SqliteBackplane.Internal.Node;

/// <summary>
/// One user's hold on a backplane node (a hub manager, the presence service, a health check). In an app the node is
/// the container's <see cref="AppBackplaneNode"/> and releasing the hold does nothing: the app stops the node. A
/// user constructed directly, without a host, shares a node through <see cref="BackplaneNodeRegistry"/> instead, and
/// the last release stops it.
/// </summary>
internal sealed class BackplaneNodeHold
{
    private readonly bool _counted;
    private int _released;

    private BackplaneNodeHold(BackplaneNode node, bool counted)
    {
        Node = node;
        _counted = counted;
    }

    public BackplaneNode Node { get; }

    public static BackplaneNodeHold Acquire(SqliteBackplaneOptions options, ILogger logger) =>
        options.AppNode is { } app
            ? new BackplaneNodeHold(app.GetNode(options, logger), counted: false)
            : new BackplaneNodeHold(BackplaneNodeRegistry.Acquire(options, logger), counted: true);

    /// <summary>Releases the hold without blocking; completes once the node is stopped when this was its last holder.</summary>
    public ValueTask ReleaseAsync() => TakeCounted() ? BackplaneNodeRegistry.ReleaseAsync(Node) : ValueTask.CompletedTask;

    /// <summary>
    /// Releases the hold for a synchronous <see cref="IDisposable.Dispose"/>: when this was the last hold on a node
    /// of the registry, waits a bounded time for the node to stop, so a file deleted right after is not written again.
    /// Never waits for an app's node.
    /// </summary>
    public void Release()
    {
        if (TakeCounted())
        {
            BackplaneNodeRegistry.Release(Node);
        }
    }

    private bool TakeCounted() => Interlocked.Exchange(ref _released, 1) == 0 && _counted;
}

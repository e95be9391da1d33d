using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace SqliteBackplane.Internal.Node;

/// <summary>
/// The node of an app that called <c>AddSqliteBackplane</c>: a singleton of the app's container, built on first use
/// with the app's logger and meter factories, so it never depends on which service asked first. Every hub manager,
/// the presence service, the health check and the hosted service built from the app's options share it. The hosted
/// service starts it and stops it after the server has drained; the container disposes it without blocking a thread.
/// </summary>
internal sealed class AppBackplaneNode : IAsyncDisposable, IDisposable
{
    private readonly ILoggerFactory? _loggerFactory;
    private readonly IMeterFactory? _meterFactory;
    private readonly object _lock = new();
    private BackplaneNode? _node;
    private bool _disposed;

    public AppBackplaneNode(IServiceProvider services)
    {
        // A container without logging or metrics (a bare ServiceCollection) leaves the node on the first user's logger.
        _loggerFactory = services.GetService<ILoggerFactory>();
        _meterFactory = services.GetService<IMeterFactory>();
    }

    /// <summary>The app's node, built from <paramref name="options"/> on first use.</summary>
    /// <param name="options">The app's configured options.</param>
    /// <param name="fallbackLogger">The node's logger when the container has no logger factory.</param>
    public BackplaneNode GetNode(SqliteBackplaneOptions options, ILogger fallbackLogger)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _node ??= new BackplaneNode(options, _loggerFactory?.CreateLogger(BackplaneNode.LogCategory) ?? fallbackLogger, _meterFactory);
        }
    }

    /// <summary>Stops the node (a no-op once the hosted service has) and releases its instruments.</summary>
    public ValueTask DisposeAsync() => TakeNode() is { } node ? node.DisposeAsync() : ValueTask.CompletedTask;

    /// <summary>
    /// For a container disposed synchronously: starts the same stop as <see cref="DisposeAsync"/> without waiting for
    /// it. In a host the hosted service has already stopped the node, so there is nothing left to wait for.
    /// </summary>
    public void Dispose()
    {
        if (TakeNode() is { } node)
        {
            _ = node.DisposeAsync().AsTask().ContinueWith(static t => _ = t.Exception, CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private BackplaneNode? TakeNode()
    {
        lock (_lock)
        {
            _disposed = true;
            var node = _node;
            _node = null;
            return node;
        }
    }
}

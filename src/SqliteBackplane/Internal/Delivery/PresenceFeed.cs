using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane.Internal.Delivery;

/// <summary>
/// Turns the log's presence rows into <see cref="SqliteBackplanePresenceChange"/>s for this process's subscribers. The
/// reader only queues them: each subscription has its own queue and runs its handler on the thread pool, one change at
/// a time, so a slow or failing handler never holds up delivery or the other subscribers. A queue holds at most
/// <paramref name="maxQueuedChanges"/>: beyond that, changes are dropped, logged and counted, and once the handler has
/// caught up it receives <see cref="SqliteBackplanePresenceChangeKind.ChangesDropped"/> so the app can read the state again.
/// </summary>
internal sealed class PresenceFeed(ILogger logger, string nodeId, int maxQueuedChanges = PresenceFeed.DefaultMaxQueuedChanges)
{
    /// <summary>Changes one subscription may have waiting for its handler.</summary>
    public const int DefaultMaxQueuedChanges = 10_000;

    private readonly ILogger _logger = logger;
    private readonly string _nodeId = nodeId;
    private readonly int _maxQueuedChanges = maxQueuedChanges;

    private readonly object _lock = new();
    private Subscription[] _subscriptions = [];

    /// <summary>Whether anyone listens; without subscribers presence rows are not even decoded.</summary>
    public bool HasSubscribers => Volatile.Read(ref _subscriptions).Length > 0;

    /// <summary>Whether <paramref name="kind"/> (a row's kind column) is a presence-only row.</summary>
    public static bool IsPresenceOnly(int kind) => kind is (int)MessageKind.ConnectionJoined or (int)MessageKind.ConnectionLeft or (int)MessageKind.NodeJoined;

    public IDisposable Subscribe(string hub, Func<SqliteBackplanePresenceChange, Task> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var subscription = new Subscription(this, hub, handler);
        lock (_lock)
        {
            _subscriptions = [.. _subscriptions, subscription];
        }

        return subscription;
    }

    /// <summary>Queues the changes a presence row (or a NodeGone row) describes for the subscribers. Reader thread.</summary>
    public void Publish(string rowHub, Envelope envelope)
    {
        var subscriptions = Volatile.Read(ref _subscriptions);
        if (subscriptions.Length == 0)
        {
            return;
        }

        switch (envelope)
        {
            case NodeJoinedRow joinedNode:
                PublishNode(subscriptions, SqliteBackplanePresenceChangeKind.NodeJoined, joinedNode.NodeId);
                return;
            case NodeGoneRow gone:
                PublishNode(subscriptions, gone.ReapedBy is null ? SqliteBackplanePresenceChangeKind.NodeLeft : SqliteBackplanePresenceChangeKind.NodeReaped, gone.NodeId);
                return;
            case PresenceRow presence:
                PublishConnections(subscriptions, rowHub, presence);
                return;
        }
    }

    private static void PublishConnections(Subscription[] subscriptions, string rowHub, PresenceRow presence)
    {
        var (connectionKind, userKind) = presence.Joined
            ? (SqliteBackplanePresenceChangeKind.ConnectionJoined, SqliteBackplanePresenceChangeKind.UserJoined)
            : (SqliteBackplanePresenceChangeKind.ConnectionLeft, SqliteBackplanePresenceChangeKind.UserLeft);
        foreach (var subscription in subscriptions)
        {
            if (!string.Equals(subscription.Hub, rowHub, StringComparison.Ordinal))
            {
                continue;
            }

            foreach (var (connectionId, userId, userChanged) in presence.Connections)
            {
                subscription.Post(new SqliteBackplanePresenceChange(connectionKind, rowHub, presence.NodeId, connectionId, userId));
                if (userId is not null && userChanged)
                {
                    subscription.Post(new SqliteBackplanePresenceChange(userKind, rowHub, presence.NodeId, connectionId, userId));
                }
            }
        }
    }

    private static void PublishNode(Subscription[] subscriptions, SqliteBackplanePresenceChangeKind kind, string nodeId)
    {
        foreach (var subscription in subscriptions)
        {
            subscription.Post(new SqliteBackplanePresenceChange(kind, subscription.Hub, nodeId, null, null));
        }
    }

    private void Remove(Subscription subscription)
    {
        lock (_lock)
        {
            _subscriptions = [.. _subscriptions.Where(s => s != subscription)];
        }
    }

    private sealed class Subscription : IDisposable
    {
        private readonly PresenceFeed _feed;
        private readonly Func<SqliteBackplanePresenceChange, Task> _handler;
        private readonly Channel<SqliteBackplanePresenceChange> _queue;
        private long _dropped;
        private volatile bool _disposed;

        public Subscription(PresenceFeed feed, string hub, Func<SqliteBackplanePresenceChange, Task> handler)
        {
            _feed = feed;
            Hub = hub;
            _handler = handler;
            _queue = Channel.CreateBounded<SqliteBackplanePresenceChange>(new BoundedChannelOptions(feed._maxQueuedChanges)
            {
                SingleReader = true,
                SingleWriter = true,
                FullMode = BoundedChannelFullMode.Wait, // TryWrite then fails instead of waiting: the reader never waits.
            });
            _ = Task.Run(RunAsync);
        }

        public string Hub { get; }

        public void Post(SqliteBackplanePresenceChange change)
        {
            if (!_queue.Writer.TryWrite(change) && !_disposed && Interlocked.Increment(ref _dropped) == 1)
            {
                BackplaneEvents.PresenceChangesDropped(_feed._logger, Hub, _feed._maxQueuedChanges);
            }
        }

        private async Task RunAsync()
        {
            await foreach (var change in _queue.Reader.ReadAllAsync())
            {
                if (_disposed)
                {
                    return;
                }

                await HandleAsync(change);
                // Told only once the queue is empty: every change the handler receives after this is newer than the drops.
                if (!_queue.Reader.TryPeek(out _) && Interlocked.Exchange(ref _dropped, 0) > 0)
                {
                    await HandleAsync(new SqliteBackplanePresenceChange(SqliteBackplanePresenceChangeKind.ChangesDropped, Hub, _feed._nodeId, null, null));
                }
            }
        }

        private async Task HandleAsync(SqliteBackplanePresenceChange change)
        {
            try
            {
                await _handler(change);
            }
            catch (Exception ex)
            {
                BackplaneEvents.PresenceHandlerFailed(_feed._logger, change.Kind.ToString(), change.NodeId, ex);
            }
        }

        public void Dispose()
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _feed.Remove(this);
            _queue.Writer.TryComplete();
        }
    }
}

using System.Collections.Concurrent;
using SqliteBackplane.Internal.Node;

namespace SqliteBackplane.Dashboard;

/// <summary>Presence changes of every hub this process serves, and node changes, collected while the dashboard runs.</summary>
internal sealed class DashboardPresence(BackplaneNode node) : IDisposable
{
    private const int MaxQueued = 500;

    private readonly ConcurrentQueue<DashboardPresenceChange> _changes = new();
    private readonly Dictionary<string, IDisposable> _subscriptions = new(StringComparer.Ordinal);

    /// <summary>Subscribes to hubs that appeared since the last call; the empty hub carries node changes.</summary>
    public void SubscribeNewHubs()
    {
        if (!_subscriptions.ContainsKey(""))
        {
            _subscriptions[""] = node.Dispatcher.Presence.Subscribe("", change => Add(change, nodeChangesOnly: true));
        }

        foreach (var (hub, _) in node.Dispatcher.Hubs)
        {
            if (!_subscriptions.ContainsKey(hub))
            {
                _subscriptions[hub] = node.Dispatcher.Presence.Subscribe(hub, change => Add(change, nodeChangesOnly: false));
            }
        }
    }

    public List<DashboardPresenceChange> Drain()
    {
        var drained = new List<DashboardPresenceChange>();
        while (_changes.TryDequeue(out var change))
        {
            drained.Add(change);
        }

        return drained;
    }

    public void Dispose()
    {
        foreach (var subscription in _subscriptions.Values)
        {
            subscription.Dispose();
        }

        _subscriptions.Clear();
    }

    private Task Add(SqliteBackplanePresenceChange change, bool nodeChangesOnly)
    {
        var isNodeChange = change.Kind is SqliteBackplanePresenceChangeKind.NodeJoined or SqliteBackplanePresenceChangeKind.NodeLeft or SqliteBackplanePresenceChangeKind.NodeReaped;
        if (isNodeChange == nodeChangesOnly && change.Kind != SqliteBackplanePresenceChangeKind.ChangesDropped)
        {
            _changes.Enqueue(new DashboardPresenceChange(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), change.Kind.ToString(),
                isNodeChange ? "" : change.Hub, change.NodeId, change.ConnectionId, change.UserId));
            while (_changes.Count > MaxQueued && _changes.TryDequeue(out _))
            {
            }
        }

        return Task.CompletedTask;
    }
}

using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR;

namespace SqliteBackplane.Internal.Delivery;

/// <summary>
/// A many-to-many index from keys (group names, or user ids) to this process's connections. Lookups are lock-free;
/// changes take one lock, which keeps the forward and reverse maps consistent.
/// </summary>
internal sealed class LocalSubscriptions
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, HubConnectionContext>> _members = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> _keysByConnection = new(StringComparer.Ordinal);
    private readonly object _lock = new();

    public bool Add(HubConnectionContext connection, string key)
    {
        lock (_lock)
        {
            if (!_keysByConnection.TryGetValue(connection.ConnectionId, out var keys))
            {
                keys = new HashSet<string>(StringComparer.Ordinal);
                _keysByConnection[connection.ConnectionId] = keys;
            }

            if (!keys.Add(key))
            {
                return false;
            }

            _members.GetOrAdd(key, static _ => new ConcurrentDictionary<string, HubConnectionContext>(StringComparer.Ordinal))[connection.ConnectionId] = connection;
            return true;
        }
    }

    public bool Remove(string connectionId, string key)
    {
        lock (_lock)
        {
            if (!_keysByConnection.TryGetValue(connectionId, out var keys) || !keys.Remove(key))
            {
                return false;
            }

            if (keys.Count == 0)
            {
                _keysByConnection.Remove(connectionId);
            }

            RemoveMember(key, connectionId);
            return true;
        }
    }

    /// <summary>Removes the connection from every key and returns the keys it had.</summary>
    public IReadOnlyList<string> RemoveConnection(string connectionId)
    {
        lock (_lock)
        {
            if (!_keysByConnection.Remove(connectionId, out var keys))
            {
                return [];
            }

            foreach (var key in keys)
            {
                RemoveMember(key, connectionId);
            }

            return [.. keys];
        }
    }

    public ConcurrentDictionary<string, HubConnectionContext>? Members(string key) => _members.TryGetValue(key, out var members) ? members : null;

    public IReadOnlyList<string> KeysOf(string connectionId)
    {
        lock (_lock)
        {
            return _keysByConnection.TryGetValue(connectionId, out var keys) ? [.. keys] : [];
        }
    }

    private void RemoveMember(string key, string connectionId)
    {
        if (_members.TryGetValue(key, out var members))
        {
            members.TryRemove(connectionId, out _);
            if (members.IsEmpty)
            {
                _members.TryRemove(key, out _);
            }
        }
    }
}

using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using SqliteBackplane.Internal.Messaging;

namespace SqliteBackplane.Internal.Delivery;

/// <summary>
/// This process's connections to one hub, with their groups and users, and how a log row reaches them: the reader
/// hands each row for the hub to <see cref="Apply"/> (on the reader thread, in log order), which finds the local
/// recipients and writes through the <see cref="ConnectionWriter"/>.
/// Connections that opted in to resume wait outside the delivery sets until the reader applies their attach row
/// (<see cref="ResumeDelivery"/>), so they receive nothing before it and everything after it.
/// </summary>
internal sealed class LocalHub(ConnectionWriter writer, ClientResultRelay clientResults, string nodeId, ResumeDelivery? resume = null) : IHubRowHandler
{
    private readonly HubConnectionStore _connections = new();
    private readonly LocalSubscriptions _groups = new();
    private readonly LocalSubscriptions _users = new();
    private readonly Dictionary<string, HubConnectionContext> _awaitingAttach = new(StringComparer.Ordinal);

    public int LocalConnectionCount => _connections.Count;

    /// <summary>The local connection with this id, or null.</summary>
    public HubConnectionContext? this[string connectionId] => _connections[connectionId];

    public ConnectionEntry Add(HubConnectionContext connection)
    {
        _connections.Add(connection);
        if (connection.UserIdentifier is { } userId)
        {
            _users.Add(connection, userId);
        }

        return writer.Track(connection.ConnectionId);
    }

    /// <summary>
    /// Tracks a connection that opted in to resume without delivering to it: it joins the delivery sets when the reader
    /// applies its <see cref="MessageKind.Attach"/> row (or <see cref="AttachNow"/> when that row could not be written).
    /// </summary>
    public ConnectionEntry AddAwaitingAttach(HubConnectionContext connection)
    {
        var entry = writer.Track(connection.ConnectionId);
        entry.Resumable = true;
        lock (_awaitingAttach)
        {
            _awaitingAttach[connection.ConnectionId] = connection;
        }

        return entry;
    }

    /// <summary>Delivers to a connection still awaiting its attach row from now on, without a replay or token.</summary>
    public void AttachNow(HubConnectionContext connection) => JoinDeliverySets(connection, Envelope.NoStrings);

    private bool JoinDeliverySets(HubConnectionContext connection, IReadOnlyList<string> groups)
    {
        // Under the lock, so a disconnect that raced the attach either finds the connection in the sets or keeps it out.
        lock (_awaitingAttach)
        {
            if (!_awaitingAttach.Remove(connection.ConnectionId))
            {
                return false;
            }

            _connections.Add(connection);
            if (connection.UserIdentifier is { } userId)
            {
                _users.Add(connection, userId);
            }

            foreach (var group in groups)
            {
                _groups.Add(connection, group);
            }
        }

        return true;
    }

    private void ApplyAttach(long rowId, Envelope envelope)
    {
        HubConnectionContext? connection;
        lock (_awaitingAttach)
        {
            if (resume is null || envelope.Targets.Count < 2 || !_awaitingAttach.TryGetValue(envelope.Targets[0], out connection))
            {
                return;
            }
        }

        try
        {
            resume.Attach(rowId, envelope, connection);
        }
        finally
        {
            // Whatever happened to the replay, the connection receives from here on.
            JoinDeliverySets(connection, envelope.Excluded);
        }
    }

    /// <summary>Forgets a connection; returns its entry when it was still tracked.</summary>
    public ConnectionEntry? Remove(HubConnectionContext connection)
    {
        var connectionId = connection.ConnectionId;
        if (resume is not null)
        {
            lock (_awaitingAttach)
            {
                _awaitingAttach.Remove(connectionId);
            }
        }

        _connections.Remove(connection);
        _users.RemoveConnection(connectionId);
        _groups.RemoveConnection(connectionId);
        clientResults.FailProxiedFor(connectionId);
        return writer.Untrack(connectionId, out var entry) ? entry : null;
    }

    public void Apply(long rowId, Envelope envelope)
    {
        switch (envelope.Kind)
        {
            case MessageKind.All:
                var all = writer.StartRow(rowId, envelope, writer.HasLanes ? _connections.Count : 0);
                foreach (var connection in _connections)
                {
                    all.To(connection);
                }

                all.Finish();
                break;
            case MessageKind.Connections:
                var listed = RowRouting.LookupKeys(envelope);
                var direct = writer.StartRow(rowId, envelope, listed.Count);
                foreach (var connectionId in listed)
                {
                    if (_connections[connectionId] is { } connection)
                    {
                        direct.To(connection);
                    }
                }

                direct.Finish();
                break;
            case MessageKind.Groups:
                DeliverToSubscribers(_groups, rowId, envelope);
                break;
            case MessageKind.Users:
                DeliverToSubscribers(_users, rowId, envelope);
                break;
            case MessageKind.GroupAdd when envelope.Targets.Count >= 2:
                if (_connections[envelope.Targets[0]] is { } joining)
                {
                    _groups.Add(joining, envelope.Targets[1]);
                }

                break;
            case MessageKind.GroupRemove when envelope.Targets.Count >= 2:
                _groups.Remove(envelope.Targets[0], envelope.Targets[1]);
                break;
            case MessageKind.ClientInvocation:
                ApplyClientInvocation(rowId, envelope);
                break;
            case MessageKind.ClientCompletion:
                clientResults.ApplyCompletion(envelope);
                break;
            case MessageKind.Attach:
                ApplyAttach(rowId, envelope);
                break;
        }
    }

    // One copy per key and member: RowRouting decides the keys (a group listed twice counts twice, a user once).
    private void DeliverToSubscribers(LocalSubscriptions subscriptions, long rowId, Envelope envelope)
    {
        var keys = RowRouting.LookupKeys(envelope);
        // Members are counted only when there could be enough of them for the lanes.
        var recipients = 0;
        if (writer.HasLanes && _connections.Count >= ConnectionLanes.MinRecipientsForLanes)
        {
            foreach (var key in keys)
            {
                recipients += subscriptions.Members(key)?.Count ?? 0;
            }
        }

        var delivery = writer.StartRow(rowId, envelope, recipients);
        foreach (var key in keys)
        {
            var members = subscriptions.Members(key);
            if (members is null)
            {
                continue;
            }

            foreach (var (_, connection) in members)
            {
                delivery.To(connection);
            }
        }

        delivery.Finish();
    }

    private void ApplyClientInvocation(long rowId, Envelope envelope)
    {
        if (envelope.Targets.Count < 2 || envelope.Targets[1] != nodeId || envelope.InvocationId is null || envelope.ReplyNodeId is null)
        {
            return;
        }

        var connectionId = envelope.Targets[0];
        var connection = _connections[connectionId];
        if (connection is null)
        {
            // Gone between the caller's lookup and now: answer at once instead of leaving the caller waiting.
            var gone = new ProxiedInvocation(connectionId, envelope.ReplyNodeId, envelope.Payloads.Count > 0 ? envelope.Payloads[0].ProtocolName : "");
            clientResults.Forward(gone, CompletionMessage.WithError(envelope.InvocationId, BackplaneErrors.RemoteConnectionDisconnected), protocol: null);
            return;
        }

        clientResults.Router.AddProxied(envelope.InvocationId, new ProxiedInvocation(connectionId, envelope.ReplyNodeId, connection.Protocol.Name));
        writer.StartRow(rowId, envelope).To(connection);
    }

    public void OnNodeGone(string nodeId) => clientResults.OnNodeGone(nodeId);

    public IReadOnlyList<LocalConnectionSnapshot> SnapshotLocalConnections()
    {
        var snapshot = new List<LocalConnectionSnapshot>();
        foreach (var connection in _connections)
        {
            snapshot.Add(new LocalConnectionSnapshot(connection.ConnectionId, connection.UserIdentifier, _groups.KeysOf(connection.ConnectionId)));
        }

        return snapshot;
    }
}

using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Internal.Diagnostics;

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

    private void ApplyAttach(long rowId, AttachRow attach)
    {
        HubConnectionContext? connection;
        lock (_awaitingAttach)
        {
            if (resume is null || !_awaitingAttach.TryGetValue(attach.ConnectionId, out connection))
            {
                return;
            }
        }

        try
        {
            resume.Attach(rowId, attach, connection);
        }
        finally
        {
            // Whatever happened to the replay, the connection receives from here on.
            JoinDeliverySets(connection, attach.Groups);
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
        switch (envelope)
        {
            case SendRow send:
                Deliver(rowId, send);
                break;
            case GroupChangeRow { Added: true } join:
                if (_connections[join.ConnectionId] is { } joining)
                {
                    _groups.Add(joining, join.Group);
                }

                break;
            case GroupChangeRow leave:
                _groups.Remove(leave.ConnectionId, leave.Group);
                break;
            case ClientInvocationRow invocation:
                ApplyClientInvocation(rowId, invocation);
                break;
            case ClientCompletionRow completion:
                clientResults.ApplyCompletion(completion);
                break;
            case AttachRow attach:
                ApplyAttach(rowId, attach);
                break;
        }
    }

    // The recipients are looked up in the local indexes by the keys RowRouting gives: one copy per key and member
    // (a group listed twice, or a member of two listed groups, gets two; a connection or user listed twice, one).
    private void Deliver(long rowId, SendRow send)
    {
        switch (send.Kind)
        {
            case MessageKind.All:
                var all = writer.StartRow(rowId, send, writer.HasLanes ? _connections.Count : 0);
                foreach (var connection in _connections)
                {
                    all.To(connection);
                }

                all.Finish();
                break;
            case MessageKind.Connections:
                var listed = RowRouting.LookupKeys(send);
                var direct = writer.StartRow(rowId, send, listed.Count);
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
                DeliverToSubscribers(_groups, rowId, send);
                break;
            case MessageKind.Users:
                DeliverToSubscribers(_users, rowId, send);
                break;
        }
    }

    private void DeliverToSubscribers(LocalSubscriptions subscriptions, long rowId, SendRow send)
    {
        var keys = RowRouting.LookupKeys(send);
        // Members are counted only when there could be enough of them for the lanes.
        var recipients = 0;
        if (writer.HasLanes && _connections.Count >= ConnectionLanes.MinRecipientsForLanes)
        {
            foreach (var key in keys)
            {
                recipients += subscriptions.Members(key)?.Count ?? 0;
            }
        }

        var delivery = writer.StartRow(rowId, send, recipients);
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

    private void ApplyClientInvocation(long rowId, ClientInvocationRow invocation)
    {
        if (invocation.OwnerNodeId != nodeId)
        {
            return;
        }

        var connectionId = invocation.ConnectionId;
        var connection = _connections[connectionId];
        if (connection is null)
        {
            // Gone between the caller's lookup and now: answer at once instead of leaving the caller waiting.
            var gone = new ProxiedInvocation(connectionId, invocation.OriginNodeId, invocation.Payloads.Count > 0 ? invocation.Payloads[0].ProtocolName : "");
            clientResults.Forward(gone, CompletionMessage.WithError(invocation.InvocationId, BackplaneErrors.RemoteConnectionDisconnected), protocol: null);
            return;
        }

        clientResults.Router.AddProxied(invocation.InvocationId, new ProxiedInvocation(connectionId, invocation.OriginNodeId, connection.Protocol.Name));
        writer.StartRow(rowId, invocation).To(connection);
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

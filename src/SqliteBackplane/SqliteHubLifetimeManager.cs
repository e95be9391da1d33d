using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SqliteBackplane.Internal;
using SqliteBackplane.Internal.Delivery;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane;

/// <summary>
/// A <see cref="HubLifetimeManager{THub}"/> that routes every send and group change through one ordered log in a
/// SQLite file, so that all processes using the same file act as one SignalR server. Registered by
/// <c>AddSqliteBackplane(..)</c>; it can also be constructed directly, without a host.
/// </summary>
/// <typeparam name="THub">The hub type.</typeparam>
public sealed class SqliteHubLifetimeManager<THub> : HubLifetimeManager<THub>, IDisposable where THub : Hub
{
    private readonly HubConnectionStore _connections = new();
    private readonly ConnectionLanes? _lanes;
    private readonly LocalSubscriptions _groups = new();
    private readonly LocalSubscriptions _users = new();
    private readonly ClientResultRouter _clientResults = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ConnectionEntry> _entries = new(StringComparer.Ordinal);
    private readonly HubMessageSerializer _serializer;
    private readonly BackplaneNode _node;
    private readonly RowHandler _rowHandler;
    private readonly ILogger _logger;
    private readonly string _hubName = typeof(THub).FullName!;
    private readonly int _maxMessageBytes;
    private readonly int _maxPendingPerConnection;
    private long _lastInvocationId;
    private int _disposed;

    /// <summary>Creates a manager that serializes messages with every registered hub protocol.</summary>
    /// <param name="logger">The logger.</param>
    /// <param name="options">The backplane options. Managers built from the same options instance share one connection to the file.</param>
    /// <param name="hubProtocolResolver">The hub protocols in use.</param>
    public SqliteHubLifetimeManager(ILogger<SqliteHubLifetimeManager<THub>> logger, IOptions<SqliteBackplaneOptions> options, IHubProtocolResolver hubProtocolResolver)
        : this(logger, options, hubProtocolResolver, globalHubOptions: null, hubOptions: null)
    {
    }

    /// <summary>Creates a manager that serializes messages with the hub protocols the hub options allow.</summary>
    /// <param name="logger">The logger.</param>
    /// <param name="options">The backplane options. Managers built from the same options instance share one connection to the file.</param>
    /// <param name="hubProtocolResolver">The hub protocols in use.</param>
    /// <param name="globalHubOptions">The options of all hubs, or null.</param>
    /// <param name="hubOptions">The options of this hub, or null.</param>
    public SqliteHubLifetimeManager(ILogger<SqliteHubLifetimeManager<THub>> logger, IOptions<SqliteBackplaneOptions> options, IHubProtocolResolver hubProtocolResolver,
        IOptions<HubOptions>? globalHubOptions, IOptions<HubOptions<THub>>? hubOptions)
    {
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(hubProtocolResolver);
        SqliteBackplaneOptionsValidator.ThrowIfInvalid(options.Value);

        _logger = logger;
        _maxMessageBytes = options.Value.MaxMessageBytes;
        _maxPendingPerConnection = options.Value.MaxPendingMessagesPerConnection;
        _lanes = ConnectionLanes.ForThisMachine(ex => BackplaneLog.LaneWriteFailed(logger, ex));
        _serializer = new HubMessageSerializer(hubProtocolResolver, hubOptions?.Value.SupportedProtocols ?? globalHubOptions?.Value.SupportedProtocols);
        _rowHandler = new RowHandler(this);
        _node = BackplaneNodeRegistry.Acquire(options.Value, logger);
        _node.RegisterHub(_hubName, _rowHandler);
        // Start in the background, as the Redis backplane connects: construction never blocks, and errors surface on first use.
        _node.EnsureStartedAsync().ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
    }

    /// <summary>The shared node this manager writes through; internal for tests.</summary>
    internal BackplaneNode Node => _node;

    /// <inheritdoc />
    public override async Task OnConnectedAsync(HubConnectionContext connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        _connections.Add(connection);
        if (connection.UserIdentifier is { } userId)
        {
            _users.Add(connection, userId);
        }

        var entry = new ConnectionEntry();
        _entries[connection.ConnectionId] = entry;
        try
        {
            await _node.WriteAsync(new RegisterConnectionOperation(_hubName, connection.ConnectionId, connection.UserIdentifier));
        }
        catch (Exception ex)
        {
            // The connection still works for local messages; the file's problem is reported by the write path.
            BackplaneLog.ConnectionRegistrationFailed(_logger, connection.ConnectionId, ex);
        }

        // SignalR runs the hub's OnDisconnectedAsync before ours: removing the row as soon as the connection aborts
        // keeps presence answers made from the hub's handler free of the departing connection. Registered after the
        // row exists, so an already-aborted connection's removal is queued behind its registration.
        lock (entry)
        {
            if (!entry.Disconnected)
            {
                entry.AbortRegistration = connection.ConnectionAborted.Register(static state =>
                {
                    var (manager, entry, connectionId) = ((SqliteHubLifetimeManager<THub>, ConnectionEntry, string))state!;
                    manager.StartRemoval(entry, connectionId);
                }, (this, entry, connection.ConnectionId));
            }
        }
    }

    /// <inheritdoc />
    public override async Task OnDisconnectedAsync(HubConnectionContext connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var connectionId = connection.ConnectionId;
        _connections.Remove(connection);
        _users.RemoveConnection(connectionId);
        _groups.RemoveConnection(connectionId);

        foreach (var (invocationId, proxied) in _clientResults.TakeProxiedForConnection(connectionId))
        {
            ForwardCompletion(proxied, CompletionMessage.WithError(invocationId, BackplaneErrors.RemoteConnectionDisconnected), protocol: null);
        }

        var removal = Task.CompletedTask;
        if (_entries.TryRemove(connectionId, out var entry))
        {
            CancellationTokenRegistration registration;
            lock (entry)
            {
                entry.Disconnected = true;
                registration = entry.AbortRegistration;
            }

            // Dispose waits for a running abort callback; the removal itself is started exactly once.
            registration.Dispose();
            _node.Admission.Forget(entry);
            removal = StartRemoval(entry, connectionId);
        }

        try
        {
            await removal;
        }
        catch (Exception ex) when (!_node.IsStopped)
        {
            BackplaneLog.ConnectionRemovalFailed(_logger, connectionId, ex);
        }
        catch (Exception)
        {
            // The node is stopping: it removes all of its connections at once (and logs that once).
        }
    }

    private Task StartRemoval(ConnectionEntry entry, string connectionId)
    {
        lock (entry)
        {
            return entry.Removal ??= _node.IsStopped
                ? Task.CompletedTask
                : _node.WriteAsync(new RemoveConnectionOperation(_hubName, connectionId));
        }
    }

    /// <inheritdoc />
    public override Task SendAllAsync(string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        AppendAsync(MessageKind.All, Envelope.NoStrings, Envelope.NoStrings, methodName, args, cancellationToken);

    /// <inheritdoc />
    public override Task SendAllExceptAsync(string methodName, object?[] args, IReadOnlyList<string> excludedConnectionIds, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(excludedConnectionIds);
        return AppendAsync(MessageKind.All, Envelope.NoStrings, Identifiers.WithoutNulls(excludedConnectionIds, nameof(excludedConnectionIds)), methodName, args, cancellationToken);
    }

    /// <inheritdoc />
    public override Task SendConnectionAsync(string connectionId, string methodName, object?[] args, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        Identifiers.ThrowIfNotValidUnicode(connectionId, nameof(connectionId));
        var connection = _connections[connectionId];
        if (connection is not null)
        {
            // Local connections skip the file, as the Redis backplane skips Redis; the wait keeps this process's order.
            return SendLocalAsync(connection, new InvocationMessage(methodName, args), cancellationToken);
        }

        return AppendAsync(MessageKind.Connections, [connectionId], Envelope.NoStrings, methodName, args, cancellationToken);
    }

    /// <inheritdoc />
    public override Task SendConnectionsAsync(IReadOnlyList<string> connectionIds, string methodName, object?[] args, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionIds);
        connectionIds = Identifiers.WithoutNulls(connectionIds, nameof(connectionIds));
        return connectionIds.Count switch
        {
            0 => Task.CompletedTask,
            1 => SendConnectionAsync(connectionIds[0], methodName, args, cancellationToken),
            _ => AppendAsync(MessageKind.Connections, connectionIds, Envelope.NoStrings, methodName, args, cancellationToken),
        };
    }

    /// <inheritdoc />
    public override Task SendGroupAsync(string groupName, string methodName, object?[] args, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(groupName);
        Identifiers.ThrowIfNotValidUnicode(groupName, nameof(groupName));
        return AppendAsync(MessageKind.Groups, [groupName], Envelope.NoStrings, methodName, args, cancellationToken);
    }

    /// <inheritdoc />
    public override Task SendGroupsAsync(IReadOnlyList<string> groupNames, string methodName, object?[] args, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(groupNames);
        foreach (var groupName in groupNames)
        {
            if (string.IsNullOrEmpty(groupName))
            {
                throw new InvalidOperationException("Cannot send to an empty group name.");
            }

            Identifiers.ThrowIfNotValidUnicode(groupName, nameof(groupNames));
        }

        return groupNames.Count == 0
            ? Task.CompletedTask
            : AppendAsync(MessageKind.Groups, groupNames, Envelope.NoStrings, methodName, args, cancellationToken);
    }

    /// <inheritdoc />
    public override Task SendGroupExceptAsync(string groupName, string methodName, object?[] args, IReadOnlyList<string> excludedConnectionIds, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(groupName);
        ArgumentNullException.ThrowIfNull(excludedConnectionIds);
        Identifiers.ThrowIfNotValidUnicode(groupName, nameof(groupName));
        return AppendAsync(MessageKind.Groups, [groupName], Identifiers.WithoutNulls(excludedConnectionIds, nameof(excludedConnectionIds)), methodName, args, cancellationToken);
    }

    /// <inheritdoc />
    public override Task SendUserAsync(string userId, string methodName, object?[] args, CancellationToken cancellationToken = default)
    {
        // Like DefaultHubLifetimeManager, a null user id is not an error; it matches no connection here.
        if (userId is not null)
        {
            Identifiers.ThrowIfNotValidUnicode(userId, nameof(userId));
        }

        return userId is null
            ? Task.CompletedTask
            : AppendAsync(MessageKind.Users, [userId], Envelope.NoStrings, methodName, args, cancellationToken);
    }

    /// <inheritdoc />
    public override Task SendUsersAsync(IReadOnlyList<string> userIds, string methodName, object?[] args, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(userIds);
        var targets = Identifiers.WithoutNulls(userIds, nameof(userIds)).Distinct(StringComparer.Ordinal).ToArray();
        return targets.Length == 0
            ? Task.CompletedTask
            : AppendAsync(MessageKind.Users, targets, Envelope.NoStrings, methodName, args, cancellationToken);
    }

    /// <inheritdoc />
    public override Task AddToGroupAsync(string connectionId, string groupName, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        ArgumentNullException.ThrowIfNull(groupName);
        return ChangeGroupAsync(connectionId, groupName, add: true, cancellationToken);
    }

    /// <inheritdoc />
    public override Task RemoveFromGroupAsync(string connectionId, string groupName, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        ArgumentNullException.ThrowIfNull(groupName);
        return ChangeGroupAsync(connectionId, groupName, add: false, cancellationToken);
    }

    private Task ChangeGroupAsync(string connectionId, string groupName, bool add, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Identifiers.ThrowIfNotValidUnicode(connectionId, nameof(connectionId));
        Identifiers.ThrowIfNotValidUnicode(groupName, nameof(groupName));
        // No acknowledgement round-trip: once the row commits, every later send on any node is ordered after it.
        var isLocal = _connections[connectionId] is not null;
        return _node.WriteAsync(new GroupChangeOperation(_hubName, connectionId, groupName, add, isLocal));
    }

    /// <inheritdoc />
    public override async Task<T> InvokeConnectionAsync<T>(string connectionId, string methodName, object?[] args, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        ArgumentNullException.ThrowIfNull(methodName);

        var connection = _connections[connectionId];
        // Unique across nodes: node ids are unique per process start.
        var invocationId = _node.NodeId + Interlocked.Increment(ref _lastInvocationId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        using var linked = connection is null ? null : CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, connection.ConnectionAborted);
        var result = _clientResults.AddPending<T>(connectionId, invocationId, linked?.Token ?? cancellationToken, out var pending);

        try
        {
            var invocation = new InvocationMessage(invocationId, methodName, args);
            if (connection is not null)
            {
                await SendLocalAsync(connection, invocation, cancellationToken);
            }
            else
            {
                var payloads = Serialize(invocation);
                var owner = await _node.WriteAsync(new ClientInvocationOperation(_hubName, connectionId, invocationId, payloads, pending, _node.Protection));
                if (owner is null)
                {
                    throw BackplaneErrors.ConnectionDoesNotExist(connectionId);
                }
            }
        }
        catch
        {
            _clientResults.RemovePending(invocationId);
            throw;
        }

        try
        {
            return await result;
        }
        catch when (connection?.ConnectionAborted.IsCancellationRequested == true)
        {
            // The abort surfaces as a generic cancellation error; report it as the built-in managers do.
            throw BackplaneErrors.LocalConnectionDisconnected(connectionId);
        }
    }

    /// <inheritdoc />
    public override Task SetConnectionResultAsync(string connectionId, CompletionMessage result)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        ArgumentNullException.ThrowIfNull(result);
        if (result.InvocationId is not null && _clientResults.TryTakeProxied(connectionId, result.InvocationId, out var proxied))
        {
            return ForwardCompletionAsync(proxied, result, _connections[connectionId]?.Protocol);
        }

        _clientResults.TryComplete(connectionId, result);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public override bool TryGetReturnType(string invocationId, [NotNullWhen(true)] out Type? type)
    {
        ArgumentNullException.ThrowIfNull(invocationId);
        return _clientResults.TryGetReturnType(invocationId, out type);
    }

    /// <summary>Stops routing this hub and releases this manager's hold on the shared backplane node.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _node.UnregisterHub(_hubName, _rowHandler);
        BackplaneNodeRegistry.Release(_node);
    }

    private Task AppendAsync(MessageKind kind, IReadOnlyList<string> targets, IReadOnlyList<string> excluded, string methodName, object?[] args,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(methodName);
        cancellationToken.ThrowIfCancellationRequested();
        var envelope = new Envelope
        {
            Kind = kind,
            Targets = targets,
            Excluded = excluded,
            Payloads = Serialize(new InvocationMessage(methodName, args)),
        };
        var (capacity, source) = _node.CapacityPolicy.CapacityFor(typeof(THub), kind, targets);
        var body = EnvelopeProtocol.Write(envelope, _node.Protection);
        // A send returns once queued, unless the log refuses sends at capacity: then its caller must learn of a refusal.
        return _node.CapacityPolicy.Mode == SqliteBackplaneLogFullMode.RejectNewMessages
            ? _node.WriteAsync(new CappedAppendOperation(_hubName, kind, body, capacity, source, SqliteBackplaneLogFullMode.RejectNewMessages))
            : _node.SendAsync(new QueuedAppendOperation(_hubName, kind, body, capacity, source, _node.Admission), cancellationToken);
    }

    private ProtocolPayload[] Serialize(HubMessage message)
    {
        var payloads = _serializer.Serialize(message);
        var size = 0L;
        foreach (var payload in payloads)
        {
            size += payload.Bytes.Length;
        }

        if (size > _maxMessageBytes)
        {
            throw BackplaneErrors.MessageTooLarge((int)Math.Min(size, int.MaxValue), _maxMessageBytes);
        }

        return payloads;
    }

    private Task SendLocalAsync(HubConnectionContext connection, HubMessage message, CancellationToken cancellationToken)
    {
        var direct = new DirectWrite(connection, message, cancellationToken);
        // Through the connection's lane when it has rows queued, so the direct write cannot overtake them.
        _node.RunAfterOwnWrites(_lanes is { } lanes ? () => lanes.RunInOrder(connection.ConnectionId, direct.Run) : direct.Run);
        return direct.Task;
    }

    private void ForwardCompletion(ProxiedInvocation proxied, CompletionMessage completion, IHubProtocol? protocol) =>
        _ = ForwardCompletionAsync(proxied, completion, protocol);

    private async Task ForwardCompletionAsync(ProxiedInvocation proxied, CompletionMessage completion, IHubProtocol? protocol)
    {
        try
        {
            protocol = _serializer.Find(proxied.ProtocolName) ?? protocol ?? _serializer.Protocols[0];
            var envelope = new Envelope
            {
                Kind = MessageKind.ClientCompletion,
                Targets = [proxied.OriginNodeId],
                InvocationId = completion.InvocationId,
                Payloads = [new ProtocolPayload(protocol.Name, protocol.GetMessageBytes(completion))],
            };
            await _node.WriteAsync(new AppendMessageOperation(_hubName, MessageKind.ClientCompletion, EnvelopeProtocol.Write(envelope, _node.Protection)));
        }
        catch (Exception ex)
        {
            BackplaneLog.ClientResultForwardFailed(_logger, completion.InvocationId ?? "", proxied.OriginNodeId, ex);
        }
    }

    // ---- Applying log rows (reader thread, log order) ----

    private void Apply(long rowId, Envelope envelope)
    {
        switch (envelope.Kind)
        {
            case MessageKind.All:
                var all = new Delivery(this, rowId, envelope, _lanes is null ? 0 : _connections.Count);
                foreach (var connection in _connections)
                {
                    all.To(connection);
                }

                all.Report();
                break;
            case MessageKind.Connections:
                var direct = new Delivery(this, rowId, envelope, envelope.Targets.Count);
                // A connection listed twice receives the message once, as with DefaultHubLifetimeManager.
                var targets = envelope.Targets.Count > 1 ? envelope.Targets.Distinct(StringComparer.Ordinal) : envelope.Targets;
                foreach (var connectionId in targets)
                {
                    if (_connections[connectionId] is { } connection)
                    {
                        direct.To(connection);
                    }
                }

                direct.Report();
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
                ApplyClientCompletion(envelope);
                break;
        }
    }

    private void DeliverToSubscribers(LocalSubscriptions subscriptions, long rowId, Envelope envelope)
    {
        // Members are counted only when there could be enough of them for the lanes.
        var recipients = 0;
        if (_lanes is not null && _connections.Count >= ConnectionLanes.MinRecipientsForLanes)
        {
            foreach (var key in envelope.Targets)
            {
                recipients += subscriptions.Members(key)?.Count ?? 0;
            }
        }

        var delivery = new Delivery(this, rowId, envelope, recipients);
        foreach (var key in envelope.Targets)
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

        delivery.Report();
    }

    private void ApplyClientInvocation(long rowId, Envelope envelope)
    {
        if (envelope.Targets.Count < 2 || envelope.Targets[1] != _node.NodeId || envelope.InvocationId is null || envelope.ReplyNodeId is null)
        {
            return;
        }

        var connectionId = envelope.Targets[0];
        var connection = _connections[connectionId];
        if (connection is null)
        {
            // Gone between the caller's lookup and now: answer at once instead of leaving the caller waiting.
            var gone = new ProxiedInvocation(connectionId, envelope.ReplyNodeId, envelope.Payloads.Count > 0 ? envelope.Payloads[0].ProtocolName : "");
            ForwardCompletion(gone, CompletionMessage.WithError(envelope.InvocationId, BackplaneErrors.RemoteConnectionDisconnected), protocol: null);
            return;
        }

        _clientResults.AddProxied(envelope.InvocationId, new ProxiedInvocation(connectionId, envelope.ReplyNodeId, connection.Protocol.Name));
        new Delivery(this, rowId, envelope).To(connection);
    }

    private void ApplyClientCompletion(Envelope envelope)
    {
        if (envelope.InvocationId is null || envelope.Payloads.Count == 0 || !_clientResults.TryGetPending(envelope.InvocationId, out var pending))
        {
            return;
        }

        var payload = envelope.Payloads[0];
        var protocol = _serializer.Find(payload.ProtocolName);
        CompletionMessage completion;
        if (protocol is null)
        {
            BackplaneLog.ClientResultProtocolUnknown(_logger, payload.ProtocolName, envelope.InvocationId);
            completion = CompletionMessage.WithError(envelope.InvocationId, $"The client's result arrived in hub protocol '{payload.ProtocolName}', which this server does not have.");
        }
        else
        {
            completion = ClientResultRouter.ParseCompletion(protocol, payload.Bytes, pending);
        }

        _clientResults.TryComplete(pending.ConnectionId, completion);
    }

    /// <summary>Messages dropped because a local connection was not reading; internal for tests.</summary>
    internal long DroppedMessages => Interlocked.Read(ref _droppedMessages);

    private long _droppedMessages;

    private void Drop(HubConnectionContext connection, ConnectionEntry entry)
    {
        Interlocked.Increment(ref _droppedMessages);
        _node.Metrics.Dropped();
        if (!entry.LoggedDropping)
        {
            entry.LoggedDropping = true;
            BackplaneLog.SlowConnectionDropping(_logger, connection.ConnectionId, Volatile.Read(ref entry.PendingWrites));
        }
    }

    private void OnNodeGone(string nodeId)
    {
        foreach (var failed in _clientResults.FailForNode(nodeId))
        {
            BackplaneLog.ClientResultNodeGone(_logger, failed.InvocationId, failed.ConnectionId, nodeId);
        }
    }

    private IReadOnlyList<LocalConnectionSnapshot> SnapshotLocalConnections()
    {
        var snapshot = new List<LocalConnectionSnapshot>();
        foreach (var connection in _connections)
        {
            snapshot.Add(new LocalConnectionSnapshot(connection.ConnectionId, connection.UserIdentifier, _groups.KeysOf(connection.ConnectionId)));
        }

        return snapshot;
    }

    /// <summary>
    /// Writes one row's message to local connections, serializing nothing: the bytes come from the row. A row for at
    /// least <see cref="ConnectionLanes.MinRecipientsForLanes"/> local connections is written through the lanes, in
    /// parallel; otherwise the reader writes, except to a connection whose lane still has earlier rows queued.
    /// </summary>
    private struct Delivery(SqliteHubLifetimeManager<THub> manager, long rowId, Envelope envelope, int expectedRecipients = 1)
    {
        private SerializedHubMessage? _message;
        private List<(HubConnectionContext Connection, ConnectionEntry? Entry)>?[]? _laneTargets;

        public int Count { get; private set; }

        /// <summary>Hands the collected lane work to the lanes, and counts the deliveries.</summary>
        public readonly void Report()
        {
            if (_laneTargets is not null)
            {
                var lanes = manager._lanes!;
                for (var i = 0; i < _laneTargets.Length; i++)
                {
                    if (_laneTargets[i] is { } targets)
                    {
                        var (owner, message, id) = (manager, _message!, rowId);
                        lanes[i].Post(() =>
                        {
                            foreach (var (connection, entry) in targets)
                            {
                                owner.Write(connection, message, entry, id, counted: true);
                            }
                        });
                    }
                }
            }

            manager._node.Metrics.Delivered(Count);
        }

        public void To(HubConnectionContext connection)
        {
            if (envelope.Excluded.Count > 0 && envelope.Excluded.Contains(connection.ConnectionId))
            {
                return;
            }

            if (!HasPayloadFor(connection.Protocol.Name))
            {
                BackplaneLog.ProtocolPayloadMissing(manager._logger, rowId, connection.Protocol.Name, connection.ConnectionId);
                return;
            }

            manager._entries.TryGetValue(connection.ConnectionId, out var entry);
            if (entry is not null && Volatile.Read(ref entry.PendingWrites) >= manager._maxPendingPerConnection)
            {
                manager.Drop(connection, entry);
                return;
            }

            _message ??= HubMessageSerializer.ToSerializedHubMessage(envelope.Payloads);
            Count++;
            var lanes = manager._lanes;
            if (lanes is null)
            {
                manager.Write(connection, _message, entry, rowId, counted: false);
                return;
            }

            var index = lanes.IndexOf(connection.ConnectionId);
            if (expectedRecipients >= ConnectionLanes.MinRecipientsForLanes)
            {
                _laneTargets ??= new List<(HubConnectionContext, ConnectionEntry?)>?[lanes.Count];
                (_laneTargets[index] ??= []).Add((connection, manager.CountPending(entry)));
            }
            else if (lanes[index].IsIdle)
            {
                manager.Write(connection, _message, entry, rowId, counted: false);
            }
            else
            {
                var (owner, message, id, queued) = (manager, _message, rowId, manager.CountPending(entry));
                lanes[index].Post(() => owner.Write(connection, message, queued, id, counted: true));
            }
        }

        private readonly bool HasPayloadFor(string protocolName)
        {
            foreach (var payload in envelope.Payloads)
            {
                if (string.Equals(payload.ProtocolName, protocolName, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }

            return false;
        }
    }

    // Counts a write queued in a lane as pending from then until it completes, so the per-connection bound and the
    // pacing of senders cover it too.
    private ConnectionEntry? CountPending(ConnectionEntry? entry)
    {
        if (entry is not null)
        {
            _node.Admission.WriteStarted(entry);
        }

        return entry;
    }

    // Writes a row's message to one connection. A write that does not complete at once is pending in
    // entry.PendingWrites until it does; one queued in a lane was counted when it was queued (counted). A slow connection
    // must not hold up the caller: HubConnectionContext queues writes in order (and logs failures itself), so an
    // incomplete write is only awaited in the background.
    private void Write(HubConnectionContext connection, SerializedHubMessage message, ConnectionEntry? entry, long rowId, bool counted)
    {
        var admission = _node.Admission;
        ValueTask write;
        try
        {
            write = connection.WriteAsync(message);
        }
        catch (Exception ex)
        {
            if (counted)
            {
                Uncount(admission, entry);
            }

            BackplaneLog.DispatchFailed(_logger, rowId, ex);
            return;
        }

        if (write.IsCompletedSuccessfully)
        {
            write.GetAwaiter().GetResult();
            if (counted)
            {
                Uncount(admission, entry);
            }
        }
        else
        {
            if (!counted && entry is not null)
            {
                admission.WriteStarted(entry);
            }

            _ = UncountWhenDoneAsync(write, admission, entry);
        }

        static async Task UncountWhenDoneAsync(ValueTask write, SendAdmission admission, ConnectionEntry? entry)
        {
            try
            {
                await write;
            }
            catch
            {
                // Logged by HubConnectionContext, which aborts the connection.
            }
            finally
            {
                Uncount(admission, entry);
            }
        }

        static void Uncount(SendAdmission admission, ConnectionEntry? entry)
        {
            if (entry is not null)
            {
                admission.WriteCompleted(entry);
            }
        }
    }

    /// <summary>Per-connection state: the removal of its rows, started on abort or on disconnect, whichever comes first.</summary>
    private sealed class ConnectionEntry : PacedConnection
    {
        public CancellationTokenRegistration AbortRegistration;

        public Task? Removal;

        public bool Disconnected;

        public bool LoggedDropping;
    }

    /// <summary>A write to a local connection that may run later, on the reader thread, to keep this process's order.</summary>
    private sealed class DirectWrite(HubConnectionContext connection, HubMessage message, CancellationToken cancellationToken)
    {
        private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Task => _completion.Task;

        public void Run()
        {
            ValueTask write;
            try
            {
                write = connection.WriteAsync(message, cancellationToken);
            }
            catch (Exception ex)
            {
                _completion.TrySetException(ex);
                return;
            }

            if (write.IsCompletedSuccessfully)
            {
                write.GetAwaiter().GetResult();
                _completion.TrySetResult();
                return;
            }

            _ = CompleteAsync(write);
        }

        private async Task CompleteAsync(ValueTask write)
        {
            try
            {
                await write;
                _completion.TrySetResult();
            }
            catch (Exception ex)
            {
                _completion.TrySetException(ex);
            }
        }
    }

    private sealed class RowHandler(SqliteHubLifetimeManager<THub> manager) : IHubRowHandler
    {
        public void Apply(long rowId, Envelope envelope) => manager.Apply(rowId, envelope);

        public void OnNodeGone(string nodeId) => manager.OnNodeGone(nodeId);

        public IReadOnlyList<LocalConnectionSnapshot> SnapshotLocalConnections() => manager.SnapshotLocalConnections();

        public int LocalConnectionCount => manager._connections.Count;
    }
}

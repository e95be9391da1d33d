using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SqliteBackplane.Internal.Delivery;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Internal.Node;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Internal.Configuration;
using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane;

/// <summary>
/// A <see cref="HubLifetimeManager{THub}"/> that routes every send and group change through one ordered log in a
/// SQLite file, so that all processes using the same file act as one SignalR server. Registered by
/// <c>AddSqliteBackplane(..)</c>; it can also be constructed directly, without a host.
/// </summary>
/// <typeparam name="THub">The hub type.</typeparam>
public sealed class SqliteHubLifetimeManager<THub> : HubLifetimeManager<THub>, IDisposable, IAsyncDisposable where THub : Hub
{
    private readonly HubMessageSerializer _serializer;
    private readonly BackplaneNodeHold _hold;
    private readonly BackplaneNode _node;
    private readonly LocalHub _local;
    private readonly ConnectionWriter _writer;
    private readonly ClientResultRelay _clientResults;
    private readonly ILogger _logger;
    private readonly string _hubName = typeof(THub).FullName!;
    private readonly int _maxMessageBytes;
    private readonly bool _resumeEnabled;
    private readonly long _resumeWindowMs;
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
        _serializer = new HubMessageSerializer(hubProtocolResolver, hubOptions?.Value.SupportedProtocols ?? globalHubOptions?.Value.SupportedProtocols);
        _hold = BackplaneNodeHold.Acquire(options.Value, logger);
        _node = _hold.Node;
        _writer = new ConnectionWriter(_node, options.Value.MaxPendingMessagesPerConnection, logger);
        _clientResults = new ClientResultRelay(_hubName, _node, _serializer, logger);
        _resumeEnabled = options.Value.EnableResume;
        _resumeWindowMs = (long)options.Value.EffectiveResumeWindow.TotalMilliseconds;
        var resume = _resumeEnabled ? new ResumeDelivery(_hubName, _node, _writer, logger, options.Value.MaxPendingMessagesPerConnection) : null;
        _local = new LocalHub(_writer, _clientResults, _node.NodeId, resume);
        _node.RegisterHub(_hubName, _local);
        // Start in the background, as the Redis backplane connects: construction never blocks, and errors surface on first use.
        _node.EnsureStartedAsync().ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
    }

    /// <summary>The shared node this manager writes through; internal for tests.</summary>
    internal BackplaneNode Node => _node;

    /// <summary>Messages dropped because a local connection was not reading; internal for tests.</summary>
    internal long DroppedMessages => _writer.DroppedMessages;

    /// <summary>Writes to local connections that failed; internal for tests.</summary>
    internal long FailedDeliveries => _writer.FailedDeliveries;

    /// <inheritdoc />
    public override async Task OnConnectedAsync(HubConnectionContext connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var ticket = _resumeEnabled ? connection.GetHttpContext()?.Request.Query[ResumeTicket.QueryParameter].ToString() : null;
        var entry = string.IsNullOrEmpty(ticket) ? _local.Add(connection) : _local.AddAwaitingAttach(connection);
        try
        {
            if (entry.Resumable)
            {
                // Delivery to it starts when the reader applies the attach row this writes (after any replay).
                await ResumeAttach.WriteAsync(_node, _hubName, connection, ResumeTicket.Parse(ticket!), _resumeWindowMs);
            }
            else
            {
                await _node.WriteAsync(new RegisterConnectionOperation(_hubName, connection.ConnectionId, connection.UserIdentifier));
            }
        }
        catch (Exception ex)
        {
            // The connection still works for local messages; the file's problem is reported by the write path.
            BackplaneEvents.ConnectionRegistrationFailed(_logger, connection.ConnectionId, ex);
            if (entry.Resumable)
            {
                _local.AttachNow(connection);
            }
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
        var removal = Task.CompletedTask;
        if (_local.Remove(connection) is { } entry)
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
            BackplaneEvents.ConnectionRemovalFailed(_logger, connectionId, ex);
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
                : _node.WriteAsync(new RemoveConnectionOperation(_hubName, connectionId, entry.Resumable));
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
        var connection = _local[connectionId];
        // A connection that opted in to resume receives through the log, so the message is marked and replayable.
        if (connection is not null && !(_resumeEnabled && _writer.IsResumable(connectionId)))
        {
            // Local connections skip the file, as the Redis backplane skips Redis; the wait keeps this process's order.
            return _writer.SendDirectAsync(connection, new InvocationMessage(methodName, args), cancellationToken);
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
        var isLocal = _local[connectionId] is not null;
        return _node.WriteAsync(new GroupChangeOperation(_hubName, connectionId, groupName, add, isLocal));
    }

    /// <inheritdoc />
    public override async Task<T> InvokeConnectionAsync<T>(string connectionId, string methodName, object?[] args, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        ArgumentNullException.ThrowIfNull(methodName);

        var connection = _local[connectionId];
        // Unique across nodes: node ids are unique per process start.
        var invocationId = _node.NodeId + Interlocked.Increment(ref _lastInvocationId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        using var linked = connection is null ? null : CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, connection.ConnectionAborted);
        var result = _clientResults.Router.AddPending<T>(connectionId, invocationId, linked?.Token ?? cancellationToken, out var pending);

        try
        {
            var invocation = new InvocationMessage(invocationId, methodName, args);
            if (connection is not null)
            {
                await _writer.SendDirectAsync(connection, invocation, cancellationToken);
            }
            else
            {
                var payloads = Serialize(invocation);
                var owner = await _node.WriteAsync(new ClientInvocationOperation(_hubName, connectionId, invocationId, payloads, holder => pending.TargetNodeId = holder, _node.Protection));
                if (owner is null)
                {
                    throw BackplaneErrors.ConnectionDoesNotExist(connectionId);
                }
            }
        }
        catch
        {
            _clientResults.Router.RemovePending(invocationId);
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
        if (result.InvocationId is not null && _clientResults.Router.TryTakeProxied(connectionId, result.InvocationId, out var proxied))
        {
            return _clientResults.ForwardAsync(proxied, result, _local[connectionId]?.Protocol);
        }

        _clientResults.Router.TryComplete(connectionId, result);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public override bool TryGetReturnType(string invocationId, [NotNullWhen(true)] out Type? type)
    {
        ArgumentNullException.ThrowIfNull(invocationId);
        return _clientResults.Router.TryGetReturnType(invocationId, out type);
    }

    /// <summary>
    /// Stops routing this hub. A manager of an app (registered by <c>AddSqliteBackplane</c>) returns at once: the app's
    /// hosted service stops the shared node. A manager constructed directly releases its hold on the node it shares
    /// with the other managers built from the same options instance; when it is the last one, this call stops the
    /// node and blocks the calling thread until the node has removed its rows and closed the file, for at most about
    /// 15 seconds, so the file can be deleted right after. Prefer <see cref="DisposeAsync"/>, which never blocks a thread.
    /// </summary>
    public void Dispose()
    {
        if (Unregister())
        {
            _hold.Release();
        }
    }

    /// <summary>
    /// Stops routing this hub without blocking. A manager constructed directly also releases its hold on the shared
    /// node; the last one stops it.
    /// </summary>
    /// <returns>Completes once the node is stopped, when this manager was the last holder of a node it stops.</returns>
    public ValueTask DisposeAsync() => Unregister() ? _hold.ReleaseAsync() : ValueTask.CompletedTask;

    private bool Unregister()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return false;
        }

        _node.UnregisterHub(_hubName, _local);
        return true;
    }

    private Task AppendAsync(MessageKind kind, IReadOnlyList<string> targets, IReadOnlyList<string> excluded, string methodName, object?[] args,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(methodName);
        cancellationToken.ThrowIfCancellationRequested();
        var envelope = new SendRow(kind)
        {
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
}

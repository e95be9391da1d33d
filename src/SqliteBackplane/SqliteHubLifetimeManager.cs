using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SqliteBackplane.Internal.Delivery;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Internal.Node;
using SqliteBackplane.Internal.Configuration;

namespace SqliteBackplane;

/// <summary>
/// A <see cref="HubLifetimeManager{THub}"/> that routes every send and group change through one ordered log in a
/// SQLite file, so that all processes using the same file act as one SignalR server. Registered by
/// <c>AddSqliteBackplane(..)</c>; it can also be constructed directly, without a host.
/// </summary>
/// <typeparam name="THub">The hub type.</typeparam>
public sealed class SqliteHubLifetimeManager<THub> : HubLifetimeManager<THub>, IDisposable, IAsyncDisposable where THub : Hub
{
    private readonly BackplaneNodeHold _hold;
    private readonly BackplaneNode _node;
    private readonly LocalHub _local;
    private readonly ConnectionWriter _writer;
    private readonly HubConnections _connections;
    private readonly HubLogAppender _appender;
    private readonly HubClientInvocations _clientInvocations;
    private readonly string _hubName = typeof(THub).FullName!;
    private readonly bool _resumeEnabled;
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

        var serializer = new HubMessageSerializer(hubProtocolResolver, hubOptions?.Value.SupportedProtocols ?? globalHubOptions?.Value.SupportedProtocols);
        _hold = BackplaneNodeHold.Acquire(options.Value, logger);
        _node = _hold.Node;
        _writer = new ConnectionWriter(_node, options.Value.MaxPendingMessagesPerConnection, logger);
        var clientResults = new ClientResultRelay(_hubName, _node, serializer, logger);
        _resumeEnabled = options.Value.EnableResume;
        var resume = _resumeEnabled ? new ResumeDelivery(_hubName, _node, _writer, logger, options.Value.MaxPendingMessagesPerConnection) : null;
        _local = new LocalHub(_writer, clientResults, _node.NodeId, resume);
        _connections = new HubConnections(_node, _hubName, _local, _resumeEnabled, (long)options.Value.EffectiveResumeWindow.TotalMilliseconds, logger);
        _appender = new HubLogAppender(_node, _hubName, typeof(THub), serializer, options.Value.MaxMessageBytes);
        _clientInvocations = new HubClientInvocations(_node, _hubName, _local, _writer, clientResults, _appender);
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
        await _connections.ConnectedAsync(connection);
    }

    /// <inheritdoc />
    public override async Task OnDisconnectedAsync(HubConnectionContext connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        await _connections.DisconnectedAsync(connection);
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
        return _connections.ChangeGroupAsync(connectionId, groupName, add: true, cancellationToken);
    }

    /// <inheritdoc />
    public override Task RemoveFromGroupAsync(string connectionId, string groupName, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        ArgumentNullException.ThrowIfNull(groupName);
        return _connections.ChangeGroupAsync(connectionId, groupName, add: false, cancellationToken);
    }

    /// <inheritdoc />
    public override async Task<T> InvokeConnectionAsync<T>(string connectionId, string methodName, object?[] args, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        ArgumentNullException.ThrowIfNull(methodName);
        return await _clientInvocations.InvokeAsync<T>(connectionId, methodName, args, cancellationToken);
    }

    /// <inheritdoc />
    public override Task SetConnectionResultAsync(string connectionId, CompletionMessage result)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        ArgumentNullException.ThrowIfNull(result);
        return _clientInvocations.SetResultAsync(connectionId, result);
    }

    /// <inheritdoc />
    public override bool TryGetReturnType(string invocationId, [NotNullWhen(true)] out Type? type)
    {
        ArgumentNullException.ThrowIfNull(invocationId);
        return _clientInvocations.TryGetReturnType(invocationId, out type);
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
        CancellationToken cancellationToken) =>
        _appender.AppendAsync(kind, targets, excluded, methodName, args, cancellationToken);
}

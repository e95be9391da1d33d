using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane.Internal.Delivery;

/// <summary>
/// Decodes each log row and routes it to the hub it belongs to. Expired rows are skipped and counted; rows that
/// cannot be decoded are skipped, counted, and logged once per kind of problem. Nothing here throws into the reader.
/// </summary>
internal sealed class RowDispatcher
{
    private static readonly TimeSpan ExpiredLogInterval = TimeSpan.FromSeconds(10);

    private readonly ConcurrentDictionary<string, IHubRowHandler> _hubs = new(StringComparer.Ordinal);
    private readonly string _nodeId;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly BackplaneMetrics _metrics;
    private readonly ThrottledCount _expiredToLog;
    private readonly PayloadProtection? _protection;
    private readonly HashSet<EnvelopeFormatError> _loggedErrors = [];

    // The highest kind this version reads; rows of later kinds (a newer version sharing the file) are skipped silently.
    private const int LastKnownKind = (int)MessageKind.Attach;

    public RowDispatcher(string nodeId, TimeProvider timeProvider, ILogger logger, BackplaneMetrics metrics, PayloadProtection? protection)
    {
        Presence = new PresenceFeed(logger, nodeId);
        _protection = protection;
        _nodeId = nodeId;
        _metrics = metrics;
        _expiredToLog = new ThrottledCount(timeProvider, ExpiredLogInterval);
        _timeProvider = timeProvider;
        _logger = logger;
    }

    /// <summary>This process's presence subscribers, fed from the log's presence rows.</summary>
    public PresenceFeed Presence { get; }

    public long ExpiredRowsSkipped;
    public long CorruptRowsSkipped;

    public bool Register(string hub, IHubRowHandler handler) => _hubs.TryAdd(hub, handler);

    public void Unregister(string hub, IHubRowHandler handler) => _hubs.TryRemove(new KeyValuePair<string, IHubRowHandler>(hub, handler));

    public ICollection<IHubRowHandler> Handlers => _hubs.Values;

    /// <summary>The hubs this node serves, each with its handler: the one registry of hub handlers.</summary>
    public IEnumerable<KeyValuePair<string, IHubRowHandler>> Hubs => _hubs;

    public void Dispatch(in MessageLogRow row)
    {
        var now = _timeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        if (row.ExpiresAtMs < now)
        {
            CountExpired();
            return;
        }

        if (_metrics.DeliveryLagEnabled)
        {
            _metrics.DeliveryLag((now - row.CreatedAtMs) / 1000.0);
        }

        if (row.Kind <= (int)MessageKind.GroupRemove && row.Kind >= (int)MessageKind.All && !HasLocalConnections(row.Hub))
        {
            // Sends and group changes only concern this node's connections to the hub; with none, the row is not
            // even decoded (a process that only sends, or serves other hubs, reads the log cheaply).
            return;
        }

        if (row.Kind > LastKnownKind || PresenceFeed.IsPresenceOnly(row.Kind) && !Presence.HasSubscribers)
        {
            // Presence rows matter only to subscribers; kinds this version does not know are a newer version's.
            return;
        }

        Envelope envelope;
        try
        {
            envelope = EnvelopeProtocol.Read(row.Body, _protection);
        }
        catch (EnvelopeFormatException ex)
        {
            Interlocked.Increment(ref CorruptRowsSkipped);
            _metrics.UndecodableSkipped();
            if (_loggedErrors.Add(ex.Error))
            {
                BackplaneEvents.RowSkipped(_logger, row.Id, ex.Error.ToString(), ex.Message);
            }

            return;
        }

        try
        {
            switch (envelope)
            {
                case NodeGoneRow gone:
                    foreach (var handler in _hubs.Values)
                    {
                        handler.OnNodeGone(gone.NodeId);
                    }

                    Presence.Publish(row.Hub, envelope);
                    return;
                case PresenceRow or NodeJoinedRow:
                    Presence.Publish(row.Hub, envelope);
                    return;
                case ClientCompletionRow completion when completion.OriginNodeId != _nodeId:
                    return;
            }

            if (_hubs.TryGetValue(row.Hub, out var target))
            {
                target.Apply(row.Id, envelope);
            }
        }
        catch (Exception ex)
        {
            BackplaneEvents.DispatchFailed(_logger, row.Id, ex);
        }
    }

    private bool HasLocalConnections(string hub) => _hubs.TryGetValue(hub, out var handler) && handler.LocalConnectionCount > 0;

    private void CountExpired()
    {
        Interlocked.Increment(ref ExpiredRowsSkipped);
        _metrics.ExpiredSkipped();
        if (_expiredToLog.Add(1) is > 0 and var expired)
        {
            BackplaneEvents.ExpiredRowsSkipped(_logger, expired);
        }
    }
}

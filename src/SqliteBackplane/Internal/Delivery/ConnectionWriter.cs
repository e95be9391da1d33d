using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.Logging;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Internal.Diagnostics;
using SqliteBackplane.Internal.Flow;

namespace SqliteBackplane.Internal.Delivery;

/// <summary>
/// Writes rows to one hub's local connections: each write isolated from the others (a connection whose write throws,
/// or whose context is incomplete, is reported once and skipped), bounded per connection (a connection that is not
/// reading loses messages instead of holding memory), and spread over <see cref="ConnectionLanes"/> for large
/// fan-outs. Direct sends to a local connection go through here too, so they keep this process's order.
/// </summary>
internal sealed class ConnectionWriter
{
    private readonly ConcurrentDictionary<string, ConnectionEntry> _entries = new(StringComparer.Ordinal);
    private readonly ConnectionLanes? _lanes;
    private readonly IDeliveryNode _node;
    private readonly ILogger _logger;
    private readonly int _maxPendingPerConnection;
    private long _droppedMessages;
    private long _failedDeliveries;

    public ConnectionWriter(IDeliveryNode node, int maxPendingPerConnection, ILogger logger)
    {
        _node = node;
        _logger = logger;
        _maxPendingPerConnection = maxPendingPerConnection;
        _lanes = ConnectionLanes.ForThisMachine(ex => BackplaneEvents.LaneWriteFailed(logger, ex));
    }

    /// <summary>Whether large fan-outs are written through lanes (more than one processor).</summary>
    public bool HasLanes => _lanes is not null;

    /// <summary>Messages dropped because a local connection was not reading.</summary>
    public long DroppedMessages => Interlocked.Read(ref _droppedMessages);

    /// <summary>Writes to local connections that failed.</summary>
    public long FailedDeliveries => Interlocked.Read(ref _failedDeliveries);

    /// <summary>Starts tracking a connection's writes; returns its state.</summary>
    public ConnectionEntry Track(string connectionId)
    {
        var entry = new ConnectionEntry();
        _entries[connectionId] = entry;
        return entry;
    }

    /// <summary>Whether the tracked connection opted in to resume (its sends go through the log, to be replayable).</summary>
    public bool IsResumable(string connectionId) => _entries.TryGetValue(connectionId, out var entry) && entry.Resumable;

    public bool Untrack(string connectionId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ConnectionEntry? entry) =>
        _entries.TryRemove(connectionId, out entry);

    /// <summary>Starts one row's delivery; <paramref name="expectedRecipients"/> decides whether it goes through the lanes.</summary>
    public RowFanOut StartRow(long rowId, PayloadEnvelope envelope, int expectedRecipients = 1) => new(this, rowId, envelope, expectedRecipients, replay: false);

    /// <summary>Starts a row of a resume's replay: bounded like a live one, but its pending writes pace no sender.</summary>
    public RowFanOut StartReplayedRow(long rowId, PayloadEnvelope envelope) => new(this, rowId, envelope, expectedRecipients: 1, replay: true);

    /// <summary>
    /// Writes <paramref name="message"/> to a local connection once every row this node queued before has been written,
    /// through the connection's lane when it has rows queued, so the direct write cannot overtake them.
    /// </summary>
    public Task SendDirectAsync(HubConnectionContext connection, HubMessage message, CancellationToken cancellationToken)
    {
        var direct = new DirectWrite(connection, message, cancellationToken);
        _node.RunAfterOwnWrites(_lanes is { } lanes ? () => lanes.RunInOrder(connection.ConnectionId, direct.Run) : direct.Run);
        return direct.Task;
    }

    /// <summary>
    /// Writes a message of the resume mechanism (a gap, a token) to a connection behind every row already written or
    /// queued for it, so a token never overtakes the replay it follows.
    /// </summary>
    public void WriteInOrder(HubConnectionContext connection, HubMessage message)
    {
        if (_lanes is { } lanes)
        {
            lanes.RunInOrder(connection.ConnectionId, () => WriteUnpaced(connection, message));
        }
        else
        {
            WriteUnpaced(connection, message);
        }
    }

    private void WriteUnpaced(HubConnectionContext connection, HubMessage message)
    {
        try
        {
            // HubConnectionContext queues writes in order and logs (and aborts on) a failed one itself.
            var write = connection.WriteAsync(message);
            if (write.IsCompletedSuccessfully)
            {
                write.GetAwaiter().GetResult();
            }
            else
            {
                _ = write.AsTask().ContinueWith(static t => _ = t.Exception, CancellationToken.None,
                    TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }
        catch (Exception ex)
        {
            Failed(connection, rowId: 0, ex);
        }
    }

    /// <summary>
    /// Writes one row's message to local connections, serializing nothing: the bytes come from the row. A row for at
    /// least <see cref="ConnectionLanes.MinRecipientsForLanes"/> local connections is written through the lanes, in
    /// parallel; otherwise the reader writes, except to a connection whose lane still has earlier rows queued.
    /// </summary>
    internal struct RowFanOut(ConnectionWriter writer, long rowId, PayloadEnvelope envelope, int expectedRecipients, bool replay)
    {
        private readonly SendRow? _send = envelope as SendRow;
        private SerializedHubMessage? _message;
        private List<(HubConnectionContext Connection, ConnectionEntry? Entry)>?[]? _laneTargets;
        private int _count;

        /// <summary>Hands the collected lane work to the lanes, and counts the deliveries.</summary>
        public readonly void Finish()
        {
            if (_laneTargets is not null)
            {
                var lanes = writer._lanes!;
                for (var i = 0; i < _laneTargets.Length; i++)
                {
                    if (_laneTargets[i] is { } targets)
                    {
                        var (owner, message, id, marked, replayed) = (writer, _message!, rowId, IsMarked, replay);
                        lanes[i].Post(() =>
                        {
                            foreach (var (connection, entry) in targets)
                            {
                                owner.Write(connection, message, entry, id, counted: true, marked, replayed);
                            }
                        });
                    }
                }
            }

            writer._node.Metrics.Delivered(_count);
        }

        public void To(HubConnectionContext connection)
        {
            try
            {
                ToCore(connection);
            }
            catch (Exception ex)
            {
                // One broken connection (an incomplete context, a throwing transport) must not keep the row from the rest.
                writer.Failed(connection, rowId, ex);
            }
        }

        private void ToCore(HubConnectionContext connection)
        {
            if (_send is not null && RowRouting.IsExcluded(_send, connection.ConnectionId))
            {
                return;
            }

            if (!RowRouting.TryGetPayload(envelope.Payloads, connection.Protocol.Name, out _))
            {
                BackplaneEvents.ProtocolPayloadMissing(writer._logger, rowId, connection.Protocol.Name, connection.ConnectionId);
                return;
            }

            writer._entries.TryGetValue(connection.ConnectionId, out var entry);
            if (entry is not null && Volatile.Read(ref entry.PendingWrites) >= writer._maxPendingPerConnection)
            {
                writer.Drop(connection, entry);
                return;
            }

            _message ??= HubMessageSerializer.ToSerializedHubMessage(envelope.Payloads);
            _count++;
            var lanes = writer._lanes;
            if (lanes is null)
            {
                writer.Write(connection, _message, entry, rowId, counted: false, IsMarked, replay);
                return;
            }

            var index = lanes.IndexOf(connection.ConnectionId);
            if (expectedRecipients >= ConnectionLanes.MinRecipientsForLanes)
            {
                _laneTargets ??= new List<(HubConnectionContext, ConnectionEntry?)>?[lanes.Count];
                (_laneTargets[index] ??= []).Add((connection, writer.CountPending(entry, replay)));
            }
            else if (lanes[index].IsIdle)
            {
                writer.Write(connection, _message, entry, rowId, counted: false, IsMarked, replay);
            }
            else
            {
                var (owner, message, id, queued, marked, replayed) = (writer, _message, rowId, writer.CountPending(entry, replay), IsMarked, replay);
                lanes[index].Post(() => owner.Write(connection, message, queued, id, counted: true, marked, replayed));
            }
        }

        // Client-result invocations are never replayed, so they carry no position marker (docs/resume.md).
        private readonly bool IsMarked => envelope is not ClientInvocationRow;
    }

    // Counts a write queued in a lane as pending from then until it completes, so the per-connection bound and the
    // pacing of senders cover it too.
    private ConnectionEntry? CountPending(ConnectionEntry? entry, bool replay)
    {
        if (entry is not null)
        {
            _node.Admission.Connections.WriteStarted(entry, replay);
        }

        return entry;
    }

    // Writes a row's message to one connection. A write that does not complete at once is pending in
    // entry.PendingWrites until it does; one queued in a lane was counted when it was queued (counted). A slow connection
    // must not hold up the caller: HubConnectionContext queues writes in order (and logs failures itself), so an
    // incomplete write is only awaited in the background.
    private void Write(HubConnectionContext connection, SerializedHubMessage message, ConnectionEntry? entry, long rowId, bool counted, bool marked, bool replay)
    {
        var admission = _node.Admission.Connections;
        ValueTask write;
        try
        {
            if (marked && entry is { Resumable: true })
            {
                // Queued by the connection in order, right before the message; a failure shows on the message's write too.
                _ = connection.WriteAsync(ResumeMethods.Marker(rowId)).AsTask();
            }

            write = connection.WriteAsync(message);
        }
        catch (Exception ex)
        {
            if (counted)
            {
                Uncount(admission, entry, replay);
            }

            Failed(connection, rowId, ex);
            return;
        }

        if (write.IsCompletedSuccessfully)
        {
            write.GetAwaiter().GetResult();
            if (counted)
            {
                Uncount(admission, entry, replay);
            }
        }
        else
        {
            if (!counted && entry is not null)
            {
                admission.WriteStarted(entry, replay);
            }

            _ = UncountWhenDoneAsync(write, admission, entry, replay);
        }

        static async Task UncountWhenDoneAsync(ValueTask write, ConnectionPressure admission, ConnectionEntry? entry, bool replay)
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
                Uncount(admission, entry, replay);
            }
        }

        static void Uncount(ConnectionPressure admission, ConnectionEntry? entry, bool replay)
        {
            if (entry is not null)
            {
                admission.WriteCompleted(entry, replay);
            }
        }
    }

    private void Drop(HubConnectionContext connection, ConnectionEntry entry)
    {
        if (entry.Resumable)
        {
            // A resume client keeps its place in the log: closed, it resumes from the last message it received and the
            // log replays the rest (or reports the gap). Dropping would leave a hole nothing reports.
            if (!Interlocked.Exchange(ref entry.ClosedForResume, true))
            {
                BackplaneEvents.SlowResumeConnectionClosed(_logger, connection.ConnectionId, Volatile.Read(ref entry.PendingWrites));
                _node.Metrics.SlowResumeConnectionClosed();
                connection.Abort();
            }

            return;
        }

        Interlocked.Increment(ref _droppedMessages);
        _node.Metrics.Dropped();
        if (!entry.LoggedDropping)
        {
            entry.LoggedDropping = true;
            BackplaneEvents.SlowConnectionDropping(_logger, connection.ConnectionId, Volatile.Read(ref entry.PendingWrites));
        }
    }

    private void Failed(HubConnectionContext connection, long rowId, Exception ex)
    {
        Interlocked.Increment(ref _failedDeliveries);
        _node.Metrics.DeliveryFailed();
        var connectionId = connection.ConnectionId;
        if (!_entries.TryGetValue(connectionId, out var entry) || !Interlocked.Exchange(ref entry.LoggedFailure, true))
        {
            BackplaneEvents.DeliveryFailed(_logger, rowId, connectionId, ex);
        }
    }
}

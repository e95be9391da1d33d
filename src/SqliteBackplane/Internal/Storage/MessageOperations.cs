using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Internal.Flow;

namespace SqliteBackplane.Internal.Storage;

/// <summary>Appends one ready row to the log; the result is its id.</summary>
internal sealed class AppendMessageOperation(string hub, MessageKind kind, byte[] body) : WriteOperation<long>
{
    protected override long Run(WriterContext context) => context.AppendMessage(hub, kind, body);
}

/// <summary>
/// Appends a send whose caller awaits the commit, first applying the log capacity that covers it. Used when the log
/// refuses sends at capacity (<see cref="SqliteBackplaneLogFullMode.RejectNewMessages"/>): the caller must learn of
/// the refusal, so it waits for it.
/// </summary>
internal sealed class CappedAppendOperation(string hub, MessageKind kind, byte[] body, int capacity, string capacitySource, SqliteBackplaneLogFullMode mode)
    : WriteOperation<long>
{
    protected override long Run(WriterContext context)
    {
        if (LogCapacity.MakeRoom(context, capacity, capacitySource, mode) is { } refusal)
        {
            Reject(refusal);
            return 0;
        }

        return context.AppendMessage(hub, kind, body);
    }
}

/// <summary>
/// Appends a send whose caller returned once it was queued (the default): it makes room at capacity by dropping the
/// oldest rows, and reports its outcome to <see cref="SendAdmission"/> instead of to a waiting caller.
/// </summary>
internal sealed class QueuedAppendOperation(string hub, MessageKind kind, byte[] body, int capacity, string capacitySource, SendAdmission admission)
    : WriteOperation
{
    private TaskCompletionSource? _completion;
    private int _done;

    protected override void ExecuteCore(WriterContext context)
    {
        LogCapacity.MakeRoom(context, capacity, capacitySource, SqliteBackplaneLogFullMode.DropOldest);
        context.AppendMessage(hub, kind, body);
    }

    public override void Complete() => Finish(null);

    public override void Fail(Exception exception) => Finish(exception);

    // Created only when something waits behind this send (a presence query); most sends never need one. Lock-free:
    // whichever of this getter and Finish runs second completes the task.
    public override Task Completion
    {
        get
        {
            if (Volatile.Read(ref _done) != 0)
            {
                return Task.CompletedTask;
            }

            var completion = Volatile.Read(ref _completion);
            if (completion is null)
            {
                var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                completion = Interlocked.CompareExchange(ref _completion, created, null) ?? created;
            }

            if (Volatile.Read(ref _done) != 0)
            {
                completion.TrySetResult();
            }

            return completion.Task;
        }
    }

    private void Finish(Exception? failure)
    {
        if (Interlocked.Exchange(ref _done, 1) != 0)
        {
            return;
        }

        admission.Left(failure);
        Volatile.Read(ref _completion)?.TrySetResult();
    }
}

/// <summary>Applies a log capacity before an append: drops the oldest rows, or returns the refusal.</summary>
internal static class LogCapacity
{
    // One send never deletes more than this; a log far over a lowered capacity shrinks over several sends.
    private const int MaxDropPerSend = 10_000;

    public static SqliteBackplaneFullException? MakeRoom(WriterContext context, int capacity, string capacitySource, SqliteBackplaneLogFullMode mode)
    {
        var rows = context.LogRows();
        if (rows < capacity)
        {
            return null;
        }

        if (mode == SqliteBackplaneLogFullMode.RejectNewMessages)
        {
            return new SqliteBackplaneFullException(
                $"The SQLite backplane log holds {rows} rows, at the capacity of {capacity} set by {capacitySource}; the message was not sent. " +
                "Readers are not keeping up (see the sqlitebackplane.reader.backlog metric), or the capacity is too small for the traffic.", capacity);
        }

        context.DropOldest((int)Math.Min(MaxDropPerSend, rows - capacity + 1));
        return null;
    }
}

/// <summary>Records a connection (and the node holding it) in the connections table, with its presence row.</summary>
internal sealed class RegisterConnectionOperation(string hub, string connectionId, string? userId) : WriteOperation<bool>
{
    protected override bool Run(WriterContext context) => PresenceRows.Register(context, hub, connectionId, userId);
}

/// <summary>
/// Removes a connection and its group memberships, with its presence row. A connection that opted in to resume
/// (<paramref name="resumable"/>) first leaves its resume record behind (departure time and groups), unless it was
/// already resumed elsewhere.
/// </summary>
internal sealed class RemoveConnectionOperation(string hub, string connectionId, bool resumable = false) : WriteOperation<bool>
{
    protected override bool Run(WriterContext context)
    {
        var queries = context.Queries;
        if (context.Scalar(queries.SelectConnectionUser, (Columns.Hub, hub), (Columns.Connection, connectionId)) is not string userId)
        {
            return false;
        }

        if (resumable)
        {
            context.Execute(queries.MarkDeparted, (Columns.Now, context.NowMs), (Columns.Hub, hub), (Columns.Connection, connectionId));
        }

        context.Execute(queries.DeleteGroupsOfConnection, (Columns.Hub, hub), (Columns.Connection, connectionId));
        context.Execute(queries.DeleteConnection, (Columns.Hub, hub), (Columns.Connection, connectionId));
        PresenceRows.Left(context, context.NodeId, [(hub, connectionId, userId)]);
        return true;
    }
}

/// <summary>
/// Adds or removes a group member. The groups table and the log row change in one transaction, so any send that
/// starts after this commits is ordered after the change on every node. A connection that exists nowhere is a no-op,
/// as is a change that changes nothing. The result is the row id, or 0 when nothing was written.
/// </summary>
internal sealed class GroupChangeOperation(string hub, string connectionId, string groupName, bool add, bool connectionIsLocal) : WriteOperation<long>
{
    protected override long Run(WriterContext context)
    {
        var queries = context.Queries;
        // A join always checks: a local connection may already be on its way out (its row removed on abort).
        if ((add || !connectionIsLocal) && context.Scalar(queries.SelectConnectionNode, (Columns.Hub, hub), (Columns.Connection, connectionId)) is null)
        {
            return 0;
        }

        var changed = context.Execute(add ? queries.InsertGroupMember : queries.DeleteGroupMember,
            (Columns.Hub, hub), (Columns.Group, groupName), (Columns.Connection, connectionId));
        if (changed == 0)
        {
            return 0;
        }

        var kind = add ? MessageKind.GroupAdd : MessageKind.GroupRemove;
        return context.AppendMessage(hub, kind, EnvelopeProtocol.Write(new GroupChangeRow { Added = add, ConnectionId = connectionId, Group = groupName }));
    }
}

/// <summary>
/// Sends a client-result invocation to a connection on another node. Looks up the node holding the connection in
/// the same transaction; the result is that node's id, or null when the connection exists nowhere (nothing written).
/// </summary>
internal sealed class ClientInvocationOperation(string hub, string connectionId, string invocationId, ProtocolPayload[] payloads, Action<string> ownerFound,
    PayloadProtection? protection) : WriteOperation<string?>
{
    protected override string? Run(WriterContext context)
    {
        if (context.Scalar(context.Queries.SelectConnectionNode, (Columns.Hub, hub), (Columns.Connection, connectionId)) is not string owner)
        {
            return null;
        }

        // Before commit, so a later NodeGone row for the owner always finds the pending call.
        ownerFound(owner);
        var envelope = new ClientInvocationRow
        {
            ConnectionId = connectionId,
            OwnerNodeId = owner,
            InvocationId = invocationId,
            OriginNodeId = context.NodeId,
            Payloads = payloads,
        };
        context.AppendMessage(hub, MessageKind.ClientInvocation, EnvelopeProtocol.Write(envelope, protection));
        return owner;
    }
}

using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Logging;
using SqliteBackplane.Internal.Delivery;
using SqliteBackplane.Internal.Diagnostics;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane.Internal.Node;

/// <summary>
/// One hub's connections and group memberships in the file: a connection's row written when it connects (or its attach
/// row, when it resumes), removed when it disconnects or aborts, and its group changes, each a row every node applies
/// in log order.
/// </summary>
internal sealed class HubConnections(BackplaneNode node, string hubName, LocalHub local, bool resumeEnabled, long resumeWindowMs, ILogger logger)
{
    /// <summary>Tracks a connection and writes its row (or its attach row, with a resume ticket).</summary>
    public async Task ConnectedAsync(HubConnectionContext connection)
    {
        var ticket = resumeEnabled ? connection.GetHttpContext()?.Request.Query[ResumeTicket.QueryParameter].ToString() : null;
        var entry = string.IsNullOrEmpty(ticket) ? local.Add(connection) : local.AddAwaitingAttach(connection);
        try
        {
            if (entry.Resumable)
            {
                // Delivery to it starts when the reader applies the attach row this writes (after any replay).
                await ResumeAttach.WriteAsync(node, hubName, connection, ResumeTicket.Parse(ticket!), resumeWindowMs);
            }
            else
            {
                await node.WriteAsync(new RegisterConnectionOperation(hubName, connection.ConnectionId, connection.UserIdentifier));
            }
        }
        catch (Exception ex)
        {
            // The connection still works for local messages; the file's problem is reported by the write path.
            BackplaneEvents.ConnectionRegistrationFailed(logger, connection.ConnectionId, ex);
            if (entry.Resumable)
            {
                local.AttachNow(connection);
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
                    var (connections, entry, connectionId) = ((HubConnections, ConnectionEntry, string))state!;
                    connections.StartRemoval(entry, connectionId);
                }, (this, entry, connection.ConnectionId));
            }
        }
    }

    /// <summary>Stops tracking a connection and removes its row (once, whether or not its abort already started that).</summary>
    public async Task DisconnectedAsync(HubConnectionContext connection)
    {
        var connectionId = connection.ConnectionId;
        var removal = Task.CompletedTask;
        if (local.Remove(connection) is { } entry)
        {
            CancellationTokenRegistration registration;
            lock (entry)
            {
                entry.Disconnected = true;
                registration = entry.AbortRegistration;
            }

            // Dispose waits for a running abort callback; the removal itself is started exactly once.
            registration.Dispose();
            node.Admission.Connections.Forget(entry);
            removal = StartRemoval(entry, connectionId);
        }

        try
        {
            await removal;
        }
        catch (Exception ex) when (!node.IsStopped)
        {
            BackplaneEvents.ConnectionRemovalFailed(logger, connectionId, ex);
        }
        catch (Exception)
        {
            // The node is stopping: it removes all of its connections at once (and logs that once).
        }
    }

    /// <summary>Adds the connection to the group, or removes it, on every node.</summary>
    public Task ChangeGroupAsync(string connectionId, string groupName, bool add, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Identifiers.ThrowIfNotValidUnicode(connectionId, nameof(connectionId));
        Identifiers.ThrowIfNotValidUnicode(groupName, nameof(groupName));
        // No acknowledgement round-trip: once the row commits, every later send on any node is ordered after it.
        var isLocal = local[connectionId] is not null;
        return node.WriteAsync(new GroupChangeOperation(hubName, connectionId, groupName, add, isLocal));
    }

    private Task StartRemoval(ConnectionEntry entry, string connectionId)
    {
        lock (entry)
        {
            return entry.Removal ??= node.IsStopped
                ? Task.CompletedTask
                : node.WriteAsync(new RemoveConnectionOperation(hubName, connectionId, entry.Resumable));
        }
    }
}

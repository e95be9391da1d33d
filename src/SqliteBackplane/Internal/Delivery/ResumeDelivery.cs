using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.Logging;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane.Internal.Delivery;

/// <summary>The reserved client methods of the resume mechanism (docs/resume.md); the client helpers consume them.</summary>
internal static class ResumeMethods
{
    public const string Token = "sqlitebackplane:token";
    public const string Position = "sqlitebackplane:pos";
    public const string Gap = "sqlitebackplane:gap";

    /// <summary>The marker written to an opted-in connection immediately before a message from log row <paramref name="rowId"/>.</summary>
    public static InvocationMessage Marker(long rowId) => new(Position, [rowId]);
}

/// <summary>
/// What happens when the reader applies the <see cref="MessageKind.Attach"/> row of a local connection that opted in to
/// resume, before the connection joins the delivery sets: the replay of what its old connection missed (or the gap
/// message), then its token. Runs on the reader thread, in log order, so nothing can come between the replay and the
/// live rows that follow the attach row. The replay is read from the file through Storage (<see cref="ReplayRows"/>)
/// and written through the <see cref="ConnectionWriter"/>, as live rows are: markers, the per-connection bound and the
/// pacing of senders apply to it alike.
/// </summary>
internal sealed class ResumeDelivery(string hub, IDeliveryNode node, ConnectionWriter writer, ILogger logger, int maxReplay)
{
    public void Attach(long rowId, AttachRow attach, HubConnectionContext connection)
    {
        var resumed = attach.TokenConnectionId ?? "";
        var gap = attach.GapReason;
        if (gap is null && attach.ReplayAfter is { } from)
        {
            var count = 0;
            try
            {
                gap = Replay(rowId, from, attach.Resumed, attach.Groups, connection, out count);
            }
            catch (Exception ex) when (ex is Microsoft.Data.Sqlite.SqliteException or InvalidOperationException)
            {
                // Nothing was written yet (the replay is read whole first): the client is told, and starts fresh.
                BackplaneEvents.ResumeReplayFailed(logger, connection.ConnectionId, resumed, ex);
                gap = ResumeGap.Failed;
            }

            if (gap is null)
            {
                BackplaneEvents.ConnectionResumed(logger, connection.ConnectionId, resumed, count, from);
                node.Metrics.ResumeAttempt(null);
            }
        }

        if (gap is not null)
        {
            if (gap == ResumeGap.Token)
            {
                BackplaneEvents.ResumeTokenRefused(logger, connection.ConnectionId);
            }
            else
            {
                BackplaneEvents.ResumeGap(logger, connection.ConnectionId, resumed, gap);
            }

            node.Metrics.ResumeAttempt(gap);
            writer.WriteInOrder(connection, new InvocationMessage(ResumeMethods.Gap, [gap]));
        }

        var token = node.ResumeTokens.Issue(hub, connection.ConnectionId, rowId);
        writer.WriteInOrder(connection, new InvocationMessage(ResumeMethods.Token, [token, rowId]));
    }

    private string? Replay(long attachId, long from, IReadOnlyList<string> chain, IReadOnlyList<string> groupsAtEnd, HubConnectionContext connection, out int count)
    {
        count = 0;
        List<(long Id, Envelope Row)>? replay;
        using (var log = ReplayRows.Open(node.Database))
        {
            var changes = log.GroupChangesNewestFirst(hub, from, attachId).Select(r => TryRead(r.Body)).OfType<Envelope>();
            var rows = log.Rows(hub, from, attachId).Select(r => (r.Id, Row: TryRead(r.Body))).Where(r => r.Row is not null).Select(r => (r.Id, r.Row!));
            replay = ReplayMatcher.Plan(chain, connection.UserIdentifier, groupsAtEnd, changes, rows, maxReplay);
            if (replay is null)
            {
                return ResumeGap.Overflow;
            }

            // Same snapshot as the rows: the log only loses rows from its head, so rows gone before the read show here.
            var (min, max) = log.Bounds();
            if (AttachConnectionOperation.IsTruncated(from, min, max))
            {
                return ResumeGap.Truncated;
            }
        }

        foreach (var (id, row) in replay)
        {
            var delivery = writer.StartReplayedRow(id, (PayloadEnvelope)row);
            delivery.To(connection);
            delivery.Finish();
        }

        count = replay.Count;
        return null;
    }

    private Envelope? TryRead(byte[] body)
    {
        try
        {
            return EnvelopeProtocol.Read(body, node.Protection);
        }
        catch (EnvelopeFormatException)
        {
            // The live reader skips, counts and logs the same row.
            return null;
        }
    }
}

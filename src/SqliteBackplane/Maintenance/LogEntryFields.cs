using System.Globalization;
using SqliteBackplane.Internal.Messaging;

namespace SqliteBackplane.Maintenance;

/// <summary>
/// Shows a typed log row in the fields of <see cref="SqliteBackplaneLogEntry"/>, which keep the generic shape of
/// envelope version 1 until the public maintenance surface is reshaped: <c>Targets</c> lists what the row is about by
/// kind (a send's targets; a group change's connection and group; a client invocation's connection and owner node; a
/// completion's origin node; a node row's node, then a presence row's connections as id, user, "1" when the user
/// joined or left), <c>Excluded</c> a send's exclusions or an attach row's groups, <c>InvocationId</c> a client
/// result's invocation or an attach row's replay position, <c>ReplyNodeId</c> the node a result goes back to, the node
/// that reaped a gone node, or an attach row's gap reason.
/// </summary>
internal static class LogEntryFields
{
    public static SqliteBackplaneLogEntry Fill(SqliteBackplaneLogEntry entry, Envelope envelope) => envelope switch
    {
        SendRow send => entry with { Targets = send.Targets, Excluded = send.Excluded, Payloads = Payloads(send) },
        GroupChangeRow change => entry with { Targets = [change.ConnectionId, change.Group] },
        ClientInvocationRow invocation => entry with
        {
            Targets = [invocation.ConnectionId, invocation.OwnerNodeId],
            InvocationId = invocation.InvocationId,
            ReplyNodeId = invocation.OriginNodeId,
            Payloads = Payloads(invocation),
        },
        ClientCompletionRow completion => entry with { Targets = [completion.OriginNodeId], InvocationId = completion.InvocationId, Payloads = Payloads(completion) },
        NodeGoneRow gone => entry with { Targets = [gone.NodeId], ReplyNodeId = gone.ReapedBy },
        NodeJoinedRow joined => entry with { Targets = [joined.NodeId] },
        PresenceRow presence => entry with
        {
            Targets = [presence.NodeId, .. presence.Connections.SelectMany(c => new[] { c.ConnectionId, c.UserId ?? "", c.UserChanged ? "1" : "" })],
        },
        AttachRow attach => entry with
        {
            Targets = [attach.ConnectionId, .. attach.Resumed.Count > 0 ? attach.Resumed : [""]],
            Excluded = attach.Groups,
            InvocationId = attach.ReplayAfter?.ToString(CultureInfo.InvariantCulture),
            ReplyNodeId = attach.GapReason,
        },
        _ => entry,
    };

    private static List<SqliteBackplaneLogPayload> Payloads(PayloadEnvelope envelope) =>
        [.. envelope.Payloads.Select(p => new SqliteBackplaneLogPayload(p.ProtocolName, p.Bytes))];
}

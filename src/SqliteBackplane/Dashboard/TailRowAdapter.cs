using System.Text;
using SqliteBackplane.Internal.Messaging;

namespace SqliteBackplane.Dashboard;

/// <summary>
/// The one place the dashboard reads envelope fields: maps a log row (its columns and decoded envelope) to a tail row
/// (time, hub, kind, targets, size, writer node, and the payload only when the app opted in). A change of the envelope's
/// shape is adapted here alone.
/// </summary>
internal static class TailRowAdapter
{
    private const int MaxTargets = 8;
    private const int MaxPayloadChars = 400;

    public static DashboardTailRow Map(long id, string hub, int kind, string nodeId, long createdAtMs, byte[] body, PayloadProtection? protection, bool showPayloads)
    {
        var kindName = Enum.IsDefined((MessageKind)kind) ? ((MessageKind)kind).ToString() : kind.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Envelope envelope;
        try
        {
            // Decrypts with the app's keys when it has them; without them an encrypted row shows as such.
            envelope = EnvelopeProtocol.Read(body, protection);
        }
        catch (EnvelopeFormatException)
        {
            return new DashboardTailRow(id, createdAtMs, hub, kindName, ["(not decodable here)"], body.Length, nodeId, null);
        }

        var about = TargetsOf(envelope);
        var targets = about.Count <= MaxTargets ? about.ToArray() : [.. about.Take(MaxTargets), $"+{about.Count - MaxTargets} more"];
        var payload = showPayloads && envelope is PayloadEnvelope withPayloads ? Payload(withPayloads) : null;
        return new DashboardTailRow(id, createdAtMs, hub, kindName, targets, body.Length, nodeId, payload);
    }

    // What a row is about, by kind: whom a send goes to, whose group changed, which connection or node.
    private static IReadOnlyList<string> TargetsOf(Envelope envelope) => envelope switch
    {
        SendRow { Kind: MessageKind.All } send => send.Excluded.Count == 0 ? ["(every connection)"] : ["(every connection except)", .. send.Excluded],
        SendRow send => send.Targets,
        GroupChangeRow change => [change.ConnectionId, (change.Added ? "+" : "-") + change.Group],
        ClientInvocationRow invocation => [invocation.ConnectionId],
        ClientCompletionRow completion => [completion.OriginNodeId],
        NodeGoneRow gone => [gone.NodeId],
        NodeJoinedRow joined => [joined.NodeId],
        PresenceRow presence => [.. presence.Connections.Select(c => c.ConnectionId)],
        AttachRow attach => [attach.ConnectionId],
        _ => [],
    };

    private static string? Payload(PayloadEnvelope envelope)
    {
        if (envelope.Payloads.Count == 0)
        {
            return null;
        }

        // A text protocol (JSON) shows as text; a binary one as base64.
        var payload = envelope.Payloads[0];
        foreach (var candidate in envelope.Payloads)
        {
            if (candidate.ProtocolName == "json")
            {
                payload = candidate;
                break;
            }
        }

        var bytes = payload.Bytes.Span;
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes).TrimEnd('\u001e');
        }
        catch (DecoderFallbackException)
        {
            text = Convert.ToBase64String(bytes);
        }

        return $"{payload.ProtocolName}: {(text.Length > MaxPayloadChars ? text[..MaxPayloadChars] + "…" : text)}";
    }
}

using System.Globalization;

namespace SqliteBackplane.Internal.Messaging;

/// <summary>
/// Reads rows of envelope version 1, which the previous release writes, into the typed rows, so a process of this
/// version receives everything an older process sends during a rolling upgrade (docs/envelope.md). Version 1 had one
/// generic layout for every kind:
/// <code>
/// u8 version (1), u8 kind, strings targets, strings excluded, nstring invocation id, nstring reply node id,
/// payloads, optional sections (as in version 2)
/// </code>
/// and the meaning of its fields depended on the kind; this class is the only place that knows those meanings.
/// </summary>
internal static class EnvelopeV1Reader
{
    public const byte Version = 1;

    /// <summary>Reads the rest of a version 1 body; the version byte was read.</summary>
    public static Envelope Read(ref EnvelopeReader reader, ReadOnlyMemory<byte> body, PayloadProtection? protection)
    {
        var kind = EnvelopeProtocol.ReadKind(ref reader);
        var targets = reader.ReadStrings("targets");
        var excluded = reader.ReadStrings("excluded connection ids");
        var invocationId = reader.ReadNullableString("invocation id");
        var replyNodeId = reader.ReadNullableString("reply node id");
        var payloads = EnvelopeProtocol.ReadPayloadSection(ref reader, body, protection);
        return kind switch
        {
            MessageKind.All or MessageKind.Connections or MessageKind.Groups or MessageKind.Users =>
                new SendRow(kind) { Targets = targets, Excluded = excluded, Payloads = payloads },
            MessageKind.GroupAdd or MessageKind.GroupRemove =>
                new GroupChangeRow { Added = kind == MessageKind.GroupAdd, ConnectionId = Target(targets, 0), Group = Target(targets, 1) },
            MessageKind.ClientInvocation => new ClientInvocationRow
            {
                ConnectionId = Target(targets, 0),
                OwnerNodeId = Target(targets, 1),
                InvocationId = Required(invocationId, "invocation id"),
                OriginNodeId = Required(replyNodeId, "reply node id"),
                Payloads = payloads,
            },
            MessageKind.ClientCompletion =>
                new ClientCompletionRow { OriginNodeId = Target(targets, 0), InvocationId = Required(invocationId, "invocation id"), Payloads = payloads },
            MessageKind.NodeGone => new NodeGoneRow { NodeId = Target(targets, 0), ReapedBy = replyNodeId },
            MessageKind.NodeJoined => new NodeJoinedRow { NodeId = Target(targets, 0) },
            MessageKind.ConnectionJoined or MessageKind.ConnectionLeft => Presence(kind, targets),
            _ => new AttachRow
            {
                // Version 1 wrote "" for "no resumed connection", the groups in the excluded list, the replay position
                // as the invocation id and the gap reason as the reply node id.
                ConnectionId = Target(targets, 0),
                Resumed = targets.Length > 1 && targets[1].Length > 0 ? [targets[1]] : Envelope.NoStrings,
                Groups = excluded,
                ReplayAfter = invocationId is null ? null : Position(invocationId),
                GapReason = replyNodeId,
            },
        };
    }

    // Version 1 presence rows: [node id, then per connection: connection id, user id ("" for none), "1" or ""].
    private static PresenceRow Presence(MessageKind kind, string[] targets)
    {
        var connections = new List<PresenceConnection>();
        for (var i = 1; i + 2 < targets.Length; i += 3)
        {
            connections.Add(new PresenceConnection(targets[i], targets[i + 1].Length == 0 ? null : targets[i + 1], targets[i + 2] == "1"));
        }

        return new PresenceRow { Joined = kind == MessageKind.ConnectionJoined, NodeId = Target(targets, 0), Connections = connections };
    }

    private static string Target(string[] targets, int index) =>
        index < targets.Length ? targets[index] : throw new EnvelopeFormatException(EnvelopeFormatError.Corrupt, $"The version 1 envelope has no target {index}.");

    private static string Required(string? value, string field) =>
        value ?? throw new EnvelopeFormatException(EnvelopeFormatError.Corrupt, $"The version 1 envelope has no {field}.");

    private static long Position(string value) =>
        long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var position)
            ? position
            : throw new EnvelopeFormatException(EnvelopeFormatError.Corrupt, "The version 1 attach row's replay position is not a number.");
}

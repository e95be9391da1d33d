namespace SqliteBackplane.Internal.Messaging;

/// <summary>One hub message serialized by one hub protocol.</summary>
internal readonly record struct ProtocolPayload(string ProtocolName, ReadOnlyMemory<byte> Bytes);

/// <summary>
/// The decoded body of a log row: one subclass per row kind, each with its own fields (docs/envelope.md lists them and
/// their binary layout). No field means two things.
/// </summary>
internal abstract class Envelope
{
    public static readonly string[] NoStrings = [];

    public abstract MessageKind Kind { get; }
}

/// <summary>A row that carries a hub message, serialized once per hub protocol (encrypted at rest with EncryptionKeys).</summary>
internal abstract class PayloadEnvelope : Envelope
{
    public IReadOnlyList<ProtocolPayload> Payloads { get; init; } = [];
}

/// <summary>
/// A send: <see cref="MessageKind.All"/>, <see cref="MessageKind.Connections"/>, <see cref="MessageKind.Groups"/> or
/// <see cref="MessageKind.Users"/>. Who receives it, and how many copies, is <see cref="RowRouting"/>'s rule.
/// </summary>
internal sealed class SendRow(MessageKind kind) : PayloadEnvelope
{
    public override MessageKind Kind { get; } = RowRouting.IsSend(kind) ? kind : throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a send kind.");

    /// <summary>The connection ids, group names or user ids the send is for, by kind; empty for All.</summary>
    public IReadOnlyList<string> Targets { get; init; } = NoStrings;

    /// <summary>Connection ids that receive nothing (AllExcept, GroupExcept).</summary>
    public IReadOnlyList<string> Excluded { get; init; } = NoStrings;
}

/// <summary>A connection joined (<see cref="MessageKind.GroupAdd"/>) or left (<see cref="MessageKind.GroupRemove"/>) a group.</summary>
internal sealed class GroupChangeRow : Envelope
{
    public required bool Added { get; init; }

    public required string ConnectionId { get; init; }

    public required string Group { get; init; }

    public override MessageKind Kind => Added ? MessageKind.GroupAdd : MessageKind.GroupRemove;
}

/// <summary>A client-result invocation for a connection on another node, which answers with a <see cref="ClientCompletionRow"/>.</summary>
internal sealed class ClientInvocationRow : PayloadEnvelope
{
    public required string ConnectionId { get; init; }

    /// <summary>The node holding the connection: the only one that acts on the row.</summary>
    public required string OwnerNodeId { get; init; }

    public required string InvocationId { get; init; }

    /// <summary>The node whose caller waits for the result.</summary>
    public required string OriginNodeId { get; init; }

    public override MessageKind Kind => MessageKind.ClientInvocation;
}

/// <summary>The completion of a client-result invocation, as the client's protocol serialized it (one payload).</summary>
internal sealed class ClientCompletionRow : PayloadEnvelope
{
    /// <summary>The node whose caller waits for the result: the only one that acts on the row.</summary>
    public required string OriginNodeId { get; init; }

    public required string InvocationId { get; init; }

    public override MessageKind Kind => MessageKind.ClientCompletion;
}

/// <summary>A node left the file (stopped, or was reaped): fail what waits on it. Follows the ConnectionLeft rows of its connections.</summary>
internal sealed class NodeGoneRow : Envelope
{
    public required string NodeId { get; init; }

    /// <summary>The node that removed it when it was reaped (no heartbeat, a released lock file, the maintenance API); null when it left by itself.</summary>
    public string? ReapedBy { get; init; }

    public override MessageKind Kind => MessageKind.NodeGone;
}

/// <summary>A node registered on the file (started, or registered again after it was reaped).</summary>
internal sealed class NodeJoinedRow : Envelope
{
    public required string NodeId { get; init; }

    public override MessageKind Kind => MessageKind.NodeJoined;
}

/// <summary>One connection in a <see cref="PresenceRow"/>.</summary>
/// <param name="ConnectionId">The connection.</param>
/// <param name="UserId">Its user, or null.</param>
/// <param name="UserChanged">It was the user's first connection to the hub (joined) or last (left).</param>
internal readonly record struct PresenceConnection(string ConnectionId, string? UserId, bool UserChanged);

/// <summary>Presence: connections of one node were registered (<see cref="MessageKind.ConnectionJoined"/>) or removed (<see cref="MessageKind.ConnectionLeft"/>).</summary>
internal sealed class PresenceRow : Envelope
{
    public required bool Joined { get; init; }

    public required string NodeId { get; init; }

    public IReadOnlyList<PresenceConnection> Connections { get; init; } = [];

    public override MessageKind Kind => Joined ? MessageKind.ConnectionJoined : MessageKind.ConnectionLeft;
}

/// <summary>
/// A connection that opted in to resume starts receiving here; only the node holding it acts on the row
/// (docs/resume.md).
/// </summary>
internal sealed class AttachRow : Envelope
{
    public required string ConnectionId { get; init; }

    /// <summary>
    /// The connections this one resumes, oldest first: the one the client's token names, then each connection that
    /// resumed it before and left before its client received its own token (a chain of resumes, docs/resume.md). The
    /// last one is taken over. Empty on a first connect or an unreadable token; on a refused resume, as far as known.
    /// </summary>
    public IReadOnlyList<string> Resumed { get; init; } = NoStrings;

    /// <summary>The connection the client's token names, or null.</summary>
    public string? TokenConnectionId => Resumed.Count > 0 ? Resumed[0] : null;

    /// <summary>The groups the new connection took over from the last resumed one (empty unless resumed).</summary>
    public IReadOnlyList<string> Groups { get; init; } = NoStrings;

    /// <summary>The log position the replay starts after; null unless the resume was granted.</summary>
    public long? ReplayAfter { get; init; }

    /// <summary>Why the resume was refused (a <c>sqlitebackplane:gap</c> reason), or null.</summary>
    public string? GapReason { get; init; }

    public override MessageKind Kind => MessageKind.Attach;
}

namespace SqliteBackplane.Maintenance;

/// <summary>One entry of the backplane's log (a row of its messages table), as <see cref="MaintenanceLogReader.ReadLogAsync"/> returns it.</summary>
internal sealed record SqliteBackplaneLogEntry
{
    /// <summary>Gets the entry's id: entries are written and read in id order.</summary>
    public required long Id { get; init; }

    /// <summary>Gets the hub type name the entry is for; empty for entries about the backplane itself (a node gone).</summary>
    public required string Hub { get; init; }

    /// <summary>
    /// Gets what the entry asks readers to do: <c>All</c>, <c>Connections</c>, <c>Groups</c>, <c>Users</c>,
    /// <c>GroupAdd</c>, <c>GroupRemove</c>, <c>ClientInvocation</c>, <c>ClientCompletion</c> or <c>NodeGone</c>
    /// (a number for a kind this version does not know).
    /// </summary>
    public required string Kind { get; init; }

    /// <summary>Gets the id of the node (process) that wrote the entry.</summary>
    public required string NodeId { get; init; }

    /// <summary>Gets when the entry was written.</summary>
    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>Gets when the entry expires and may be deleted.</summary>
    public required DateTimeOffset ExpiresAt { get; init; }

    /// <summary>Gets the size of the stored envelope in bytes.</summary>
    public required int BodyLength { get; init; }

    /// <summary>Gets the connection ids, group names, user ids or node id the entry targets, by <see cref="Kind"/>.</summary>
    public IReadOnlyList<string> Targets { get; init; } = [];

    /// <summary>Gets the connection ids excluded from an <c>All</c> or <c>Groups</c> entry.</summary>
    public IReadOnlyList<string> Excluded { get; init; } = [];

    /// <summary>Gets the invocation id of a client-result entry, else null.</summary>
    public string? InvocationId { get; init; }

    /// <summary>Gets the node a client result is to be sent back to, else null.</summary>
    public string? ReplyNodeId { get; init; }

    /// <summary>Gets the serialized hub message, once per hub protocol; empty when the payloads could not be read.</summary>
    public IReadOnlyList<SqliteBackplaneLogPayload> Payloads { get; init; } = [];

    /// <summary>
    /// Gets why the envelope could not be decoded (corrupt, written by a newer version, or payloads encrypted), or
    /// null when it was. The fields above the envelope (id, hub, kind, node, times) are always set.
    /// </summary>
    public string? DecodeError { get; init; }
}

/// <summary>A hub message as one hub protocol serialized it, inside a <see cref="SqliteBackplaneLogEntry"/>.</summary>
/// <param name="ProtocolName">The hub protocol's name, such as <c>json</c> or <c>messagepack</c>.</param>
/// <param name="Bytes">The serialized message: text for JSON, binary for MessagePack.</param>
internal sealed record SqliteBackplaneLogPayload(string ProtocolName, ReadOnlyMemory<byte> Bytes);

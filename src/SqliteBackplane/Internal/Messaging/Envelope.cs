namespace SqliteBackplane.Internal.Messaging;

/// <summary>One hub message serialized by one hub protocol.</summary>
internal readonly record struct ProtocolPayload(string ProtocolName, ReadOnlyMemory<byte> Bytes);

/// <summary>The decoded body of a log row. See docs/envelope.md for the binary layout.</summary>
internal sealed class Envelope
{
    public static readonly string[] NoStrings = [];

    public required MessageKind Kind { get; init; }

    public IReadOnlyList<string> Targets { get; init; } = NoStrings;

    public IReadOnlyList<string> Excluded { get; init; } = NoStrings;

    public string? InvocationId { get; init; }

    public string? ReplyNodeId { get; init; }

    public IReadOnlyList<ProtocolPayload> Payloads { get; init; } = [];
}

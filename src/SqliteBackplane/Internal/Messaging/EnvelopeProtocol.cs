using System.Buffers;
using static SqliteBackplane.Internal.Messaging.EnvelopeWriter;

namespace SqliteBackplane.Internal.Messaging;

/// <summary>
/// Reads and writes the row envelope, version 2 (docs/envelope.md). All integers are unsigned LEB128 varints,
/// strings a varint byte length then UTF-8, nullable strings a varint (length + 1) with 0 meaning null:
/// <code>
/// u8       version (2)
/// u8       kind (MessageKind), then the kind's body:
///   All, Connections, Groups, Users  strings targets, strings excluded connection ids, payloads
///   GroupAdd, GroupRemove            string connection id, string group
///   ClientInvocation                 string connection id, string owner node id, string invocation id, string origin node id, payloads
///   ClientCompletion                 string origin node id, string invocation id, payloads
///   NodeGone                         string node id, nstring reaping node id
///   ConnectionJoined, ConnectionLeft string node id, varint count, each: string connection id, nstring user id, u8 flags (1 = first/last of the user)
///   NodeJoined                       string node id
///   Attach                           string connection id, strings resumed connection ids (oldest first), strings groups, varint64 (replay-after position + 1, 0 = none), nstring gap reason
/// payloads: varint count, then each: string protocol name, varint byte count, bytes
/// optional sections after the body, each a u8 marker then its data; marker 1 = encrypted payloads:
///          varint byte count, then key id (4) | nonce (12) | tag (16) | ciphertext of the payload list
///          (the plain payload count is then 0; the associated data is every byte before the marker)
/// </code>
/// Bytes after the last field this version knows are ignored, so a later version can append fields. Rows of version 1
/// (the previous release, still writing during a rolling upgrade) are read by <see cref="EnvelopeV1Reader"/>.
/// </summary>
internal static class EnvelopeProtocol
{
    public const byte CurrentVersion = 2;

    private const byte EncryptedPayloadsMarker = 1;

    private const byte UserChangedFlag = 1;

    /// <summary>The row body; with <paramref name="protection"/>, the payloads are sealed and every other field is plain.</summary>
    public static byte[] Write(Envelope envelope, PayloadProtection? protection = null)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        Write(envelope, buffer, protection);
        return buffer.WrittenSpan.ToArray();
    }

    public static void Write(Envelope envelope, ArrayBufferWriter<byte> output, PayloadProtection? protection = null)
    {
        var header = output.GetSpan(2);
        header[0] = CurrentVersion;
        header[1] = (byte)envelope.Kind;
        output.Advance(2);
        WriteBody(envelope, output);
        if (envelope is not PayloadEnvelope { Payloads: var payloads })
        {
            return;
        }

        if (protection is null || payloads.Count == 0)
        {
            WritePayloads(output, payloads);
            return;
        }

        // Routing fields stay plain (readers need them); the payloads go into the encrypted section.
        WriteVarint(output, 0);
        var plain = new ArrayBufferWriter<byte>(256);
        WritePayloads(plain, payloads);
        var sealedPayloads = protection.Encrypt(plain.WrittenSpan, output.WrittenSpan);
        WriteByte(output, EncryptedPayloadsMarker);
        WriteVarint(output, (uint)sealedPayloads.Length);
        output.Write(sealedPayloads);
    }

    private static void WriteBody(Envelope envelope, IBufferWriter<byte> output)
    {
        switch (envelope)
        {
            case SendRow send:
                WriteStrings(output, send.Targets);
                WriteStrings(output, send.Excluded);
                break;
            case GroupChangeRow change:
                WriteString(output, change.ConnectionId);
                WriteString(output, change.Group);
                break;
            case ClientInvocationRow invocation:
                WriteString(output, invocation.ConnectionId);
                WriteString(output, invocation.OwnerNodeId);
                WriteString(output, invocation.InvocationId);
                WriteString(output, invocation.OriginNodeId);
                break;
            case ClientCompletionRow completion:
                WriteString(output, completion.OriginNodeId);
                WriteString(output, completion.InvocationId);
                break;
            case NodeGoneRow gone:
                WriteString(output, gone.NodeId);
                WriteNullableString(output, gone.ReapedBy);
                break;
            case PresenceRow presence:
                WriteString(output, presence.NodeId);
                WriteVarint(output, (uint)presence.Connections.Count);
                foreach (var connection in presence.Connections)
                {
                    WriteString(output, connection.ConnectionId);
                    WriteNullableString(output, connection.UserId);
                    WriteByte(output, connection.UserChanged ? UserChangedFlag : (byte)0);
                }

                break;
            case NodeJoinedRow joined:
                WriteString(output, joined.NodeId);
                break;
            case AttachRow attach:
                WriteString(output, attach.ConnectionId);
                WriteStrings(output, attach.Resumed);
                WriteStrings(output, attach.Groups);
                WriteVarint64(output, attach.ReplayAfter is { } after ? checked((ulong)after + 1) : 0);
                WriteNullableString(output, attach.GapReason);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(envelope), envelope.Kind, "No envelope layout for this kind.");
        }
    }

    /// <summary>Decodes a row body. Throws <see cref="EnvelopeFormatException"/> (and nothing else) on any malformed input.</summary>
    public static Envelope Read(ReadOnlyMemory<byte> body, PayloadProtection? protection = null)
    {
        var reader = new EnvelopeReader(body);
        var version = reader.ReadByte("version");
        if (version == EnvelopeV1Reader.Version)
        {
            return EnvelopeV1Reader.Read(ref reader, body, protection);
        }

        if (version != CurrentVersion)
        {
            throw new EnvelopeFormatException(EnvelopeFormatError.UnsupportedVersion,
                $"Envelope version {version} is not supported (this library reads versions {EnvelopeV1Reader.Version} and {CurrentVersion}).");
        }

        var kind = ReadKind(ref reader);
        return kind switch
        {
            MessageKind.All or MessageKind.Connections or MessageKind.Groups or MessageKind.Users => new SendRow(kind)
            {
                Targets = reader.ReadStrings("targets"),
                Excluded = reader.ReadStrings("excluded connection ids"),
                Payloads = ReadPayloadSection(ref reader, body, protection),
            },
            MessageKind.GroupAdd or MessageKind.GroupRemove => new GroupChangeRow
            {
                Added = kind == MessageKind.GroupAdd,
                ConnectionId = reader.ReadString("connection id"),
                Group = reader.ReadString("group"),
            },
            MessageKind.ClientInvocation => new ClientInvocationRow
            {
                ConnectionId = reader.ReadString("connection id"),
                OwnerNodeId = reader.ReadString("owner node id"),
                InvocationId = reader.ReadString("invocation id"),
                OriginNodeId = reader.ReadString("origin node id"),
                Payloads = ReadPayloadSection(ref reader, body, protection),
            },
            MessageKind.ClientCompletion => new ClientCompletionRow
            {
                OriginNodeId = reader.ReadString("origin node id"),
                InvocationId = reader.ReadString("invocation id"),
                Payloads = ReadPayloadSection(ref reader, body, protection),
            },
            MessageKind.NodeGone => new NodeGoneRow { NodeId = reader.ReadString("node id"), ReapedBy = reader.ReadNullableString("reaping node id") },
            MessageKind.NodeJoined => new NodeJoinedRow { NodeId = reader.ReadString("node id") },
            MessageKind.ConnectionJoined or MessageKind.ConnectionLeft => ReadPresence(ref reader, kind),
            _ => ReadAttach(ref reader),
        };
    }

    /// <summary>Reads the kind byte; a kind this version does not know is an error (the reader skips such rows before decoding).</summary>
    public static MessageKind ReadKind(ref EnvelopeReader reader)
    {
        var kind = (MessageKind)reader.ReadByte("kind");
        if (!Enum.IsDefined(kind))
        {
            throw new EnvelopeFormatException(EnvelopeFormatError.UnknownKind, $"Envelope kind {(byte)kind} is not known.");
        }

        return kind;
    }

    private static PresenceRow ReadPresence(ref EnvelopeReader reader, MessageKind kind)
    {
        var nodeId = reader.ReadString("node id");
        // Each connection takes at least three bytes (two lengths and the flags).
        var connections = new PresenceConnection[reader.ReadCount("presence connections", minimumBytesEach: 3)];
        for (var i = 0; i < connections.Length; i++)
        {
            connections[i] = new PresenceConnection(reader.ReadString("connection id"), reader.ReadNullableString("user id"),
                (reader.ReadByte("presence flags") & UserChangedFlag) != 0);
        }

        return new PresenceRow { Joined = kind == MessageKind.ConnectionJoined, NodeId = nodeId, Connections = connections };
    }

    private static AttachRow ReadAttach(ref EnvelopeReader reader)
    {
        var connectionId = reader.ReadString("connection id");
        var resumed = reader.ReadStrings("resumed connection ids");
        var groups = reader.ReadStrings("groups");
        var after = reader.ReadVarint64("replay position");
        if (after > long.MaxValue)
        {
            throw new EnvelopeFormatException(EnvelopeFormatError.Corrupt, "The replay position is out of range.");
        }

        return new AttachRow
        {
            ConnectionId = connectionId,
            Resumed = resumed,
            Groups = groups,
            ReplayAfter = after == 0 ? null : (long)after - 1,
            GapReason = reader.ReadNullableString("gap reason"),
        };
    }

    /// <summary>Reads a payload list, then the encrypted section that replaces it when present.</summary>
    public static ProtocolPayload[] ReadPayloadSection(ref EnvelopeReader reader, ReadOnlyMemory<byte> body, PayloadProtection? protection)
    {
        var payloads = ReadPayloads(ref reader);
        var plainLength = reader.Position;
        if (reader.Remaining == 0 || reader.Peek() != EncryptedPayloadsMarker)
        {
            return payloads;
        }

        reader.ReadByte("section marker");
        var sealedPayloads = reader.ReadBytes(reader.ReadCount("encrypted payloads", minimumBytesEach: 1), "encrypted payloads");
        if (protection is null)
        {
            throw new EnvelopeFormatException(EnvelopeFormatError.Undecryptable,
                "The payloads are encrypted, but this process has no SqliteBackplaneOptions.EncryptionKeys.");
        }

        if (!protection.TryDecrypt(sealedPayloads.Span, body.Span[..plainLength], out var plaintext))
        {
            throw new EnvelopeFormatException(EnvelopeFormatError.Undecryptable,
                "No configured encryption key decrypts the payloads (a key is missing, or the row was altered).");
        }

        var inner = new EnvelopeReader(plaintext);
        return ReadPayloads(ref inner);
    }

    private static ProtocolPayload[] ReadPayloads(ref EnvelopeReader reader)
    {
        var payloads = new ProtocolPayload[reader.ReadCount("payloads", minimumBytesEach: 2)];
        for (var i = 0; i < payloads.Length; i++)
        {
            var protocol = reader.ReadString("payload protocol name");
            var length = reader.ReadCount("payload bytes", minimumBytesEach: 1);
            payloads[i] = new ProtocolPayload(protocol, reader.ReadBytes(length, "payload bytes"));
        }

        return payloads;
    }
}

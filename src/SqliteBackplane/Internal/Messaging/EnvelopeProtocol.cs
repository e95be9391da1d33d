using System.Buffers;
using System.Text;

namespace SqliteBackplane.Internal.Messaging;

/// <summary>
/// Reads and writes the row envelope, version 1. Layout (docs/envelope.md), all integers unsigned LEB128 varints,
/// strings as a varint byte length then UTF-8, nullable strings as varint (length + 1) with 0 meaning null:
/// <code>
/// u8       version (1)
/// u8       kind (MessageKind)
/// varint   target count, then each target string
/// varint   excluded count, then each excluded connection id
/// nstring  invocation id
/// nstring  reply node id
/// varint   payload count, then each: string protocol name, varint byte count, bytes
/// optional sections, each a u8 marker then its data; marker 1 = encrypted payloads:
///          varint byte count, then key id (4) | nonce (12) | tag (16) | ciphertext of the payload list above
///          (the plain payload count is then 0; the associated data is every byte before the marker)
/// </code>
/// Any additional bytes after the last known field are ignored, so later versions append fields without breaking readers.
/// </summary>
internal static class EnvelopeProtocol
{
    public const byte CurrentVersion = 1;

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private const byte EncryptedPayloadsMarker = 1;

    public static byte[] Write(Envelope envelope, PayloadProtection? protection = null)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        if (protection is null || envelope.Payloads.Count == 0)
        {
            Write(envelope, buffer);
            return buffer.WrittenSpan.ToArray();
        }

        // Routing fields stay plain (readers need them); the payloads go into the encrypted section.
        Write(new Envelope
        {
            Kind = envelope.Kind,
            Targets = envelope.Targets,
            Excluded = envelope.Excluded,
            InvocationId = envelope.InvocationId,
            ReplyNodeId = envelope.ReplyNodeId,
        }, buffer);
        var payloads = new ArrayBufferWriter<byte>(256);
        WritePayloads(payloads, envelope.Payloads);
        var sealedPayloads = protection.Encrypt(payloads.WrittenSpan, buffer.WrittenSpan);
        var span = buffer.GetSpan(1);
        span[0] = EncryptedPayloadsMarker;
        buffer.Advance(1);
        WriteVarint(buffer, (uint)sealedPayloads.Length);
        buffer.Write(sealedPayloads);
        return buffer.WrittenSpan.ToArray();
    }

    public static void Write(Envelope envelope, IBufferWriter<byte> output)
    {
        var span = output.GetSpan(2);
        span[0] = CurrentVersion;
        span[1] = (byte)envelope.Kind;
        output.Advance(2);

        WriteStrings(output, envelope.Targets);
        WriteStrings(output, envelope.Excluded);
        WriteNullableString(output, envelope.InvocationId);
        WriteNullableString(output, envelope.ReplyNodeId);

        WritePayloads(output, envelope.Payloads);
    }

    private static void WritePayloads(IBufferWriter<byte> output, IReadOnlyList<ProtocolPayload> payloads)
    {
        WriteVarint(output, (uint)payloads.Count);
        foreach (var payload in payloads)
        {
            WriteString(output, payload.ProtocolName);
            WriteVarint(output, (uint)payload.Bytes.Length);
            output.Write(payload.Bytes.Span);
        }
    }

    /// <summary>Decodes a row body. Throws <see cref="EnvelopeFormatException"/> (and nothing else) on any malformed input.</summary>
    public static Envelope Read(ReadOnlyMemory<byte> body, PayloadProtection? protection = null)
    {
        var reader = new Reader(body);
        var version = reader.ReadByte("version");
        if (version != CurrentVersion)
        {
            throw new EnvelopeFormatException(EnvelopeFormatError.UnsupportedVersion, $"Envelope version {version} is not supported (this library reads version {CurrentVersion}).");
        }

        var kind = (MessageKind)reader.ReadByte("kind");
        if (!Enum.IsDefined(kind))
        {
            throw new EnvelopeFormatException(EnvelopeFormatError.UnknownKind, $"Envelope kind {(byte)kind} is not known.");
        }

        var targets = reader.ReadStrings("targets");
        var excluded = reader.ReadStrings("excluded connection ids");
        var invocationId = reader.ReadNullableString("invocation id");
        var replyNodeId = reader.ReadNullableString("reply node id");

        var payloads = ReadPayloads(ref reader);
        var plainLength = reader.Position;
        if (reader.Remaining > 0 && body.Span[plainLength] == EncryptedPayloadsMarker)
        {
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

            var inner = new Reader(plaintext);
            payloads = ReadPayloads(ref inner);
        }

        return new Envelope
        {
            Kind = kind,
            Targets = targets,
            Excluded = excluded,
            InvocationId = invocationId,
            ReplyNodeId = replyNodeId,
            Payloads = payloads,
        };
    }

    private static ProtocolPayload[] ReadPayloads(ref Reader reader)
    {
        var payloadCount = reader.ReadCount("payloads", minimumBytesEach: 2);
        var payloads = new ProtocolPayload[payloadCount];
        for (var i = 0; i < payloads.Length; i++)
        {
            var protocol = reader.ReadString("payload protocol name");
            var length = reader.ReadCount("payload bytes", minimumBytesEach: 1);
            payloads[i] = new ProtocolPayload(protocol, reader.ReadBytes(length, "payload bytes"));
        }

        return payloads;
    }

    private static void WriteStrings(IBufferWriter<byte> output, IReadOnlyList<string> values)
    {
        WriteVarint(output, (uint)values.Count);
        foreach (var value in values)
        {
            WriteString(output, value);
        }
    }

    private static void WriteString(IBufferWriter<byte> output, string value)
    {
        var length = Utf8.GetByteCount(value);
        WriteVarint(output, (uint)length);
        var span = output.GetSpan(length);
        Utf8.GetBytes(value, span);
        output.Advance(length);
    }

    private static void WriteNullableString(IBufferWriter<byte> output, string? value)
    {
        if (value is null)
        {
            WriteVarint(output, 0);
            return;
        }

        var length = Utf8.GetByteCount(value);
        WriteVarint(output, (uint)length + 1);
        var span = output.GetSpan(length);
        Utf8.GetBytes(value, span);
        output.Advance(length);
    }

    private static void WriteVarint(IBufferWriter<byte> output, uint value)
    {
        var span = output.GetSpan(5);
        var written = 0;
        while (value >= 0x80)
        {
            span[written++] = (byte)(value | 0x80);
            value >>= 7;
        }

        span[written++] = (byte)value;
        output.Advance(written);
    }

    private ref struct Reader(ReadOnlyMemory<byte> body)
    {
        private readonly ReadOnlyMemory<byte> _body = body;
        private int _position;

        public readonly int Remaining => _body.Length - _position;

        public readonly int Position => _position;

        public byte ReadByte(string field)
        {
            if (Remaining < 1)
            {
                throw Truncated(field);
            }

            return _body.Span[_position++];
        }

        public uint ReadVarint(string field)
        {
            uint value = 0;
            for (var shift = 0; shift < 35; shift += 7)
            {
                var b = ReadByte(field);
                if (shift == 28 && b > 0x0F)
                {
                    throw new EnvelopeFormatException(EnvelopeFormatError.Corrupt, $"The {field} length does not fit in 32 bits.");
                }

                value |= (uint)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return value;
                }
            }

            throw new EnvelopeFormatException(EnvelopeFormatError.Corrupt, $"The {field} length is not a valid varint.");
        }

        // A count can never exceed what the remaining bytes could hold, which also bounds allocations on corrupt input.
        public int ReadCount(string field, int minimumBytesEach)
        {
            var count = ReadVarint(field);
            if (count > (uint)Remaining / (uint)minimumBytesEach)
            {
                throw Truncated(field);
            }

            return (int)count;
        }

        public string[] ReadStrings(string field)
        {
            var count = ReadCount(field, minimumBytesEach: 1);
            if (count == 0)
            {
                return Envelope.NoStrings;
            }

            var values = new string[count];
            for (var i = 0; i < count; i++)
            {
                values[i] = ReadString(field);
            }

            return values;
        }

        public string ReadString(string field) => DecodeUtf8(ReadBytes(ReadCount(field, minimumBytesEach: 1), field), field);

        public string? ReadNullableString(string field)
        {
            var lengthPlusOne = ReadVarint(field);
            if (lengthPlusOne == 0)
            {
                return null;
            }

            if (lengthPlusOne - 1 > (uint)Remaining)
            {
                throw Truncated(field);
            }

            return DecodeUtf8(ReadBytes((int)(lengthPlusOne - 1), field), field);
        }

        public ReadOnlyMemory<byte> ReadBytes(int length, string field)
        {
            if (length > Remaining)
            {
                throw Truncated(field);
            }

            var slice = _body.Slice(_position, length);
            _position += length;
            return slice;
        }

        private static string DecodeUtf8(ReadOnlyMemory<byte> bytes, string field)
        {
            try
            {
                return Utf8.GetString(bytes.Span);
            }
            catch (DecoderFallbackException)
            {
                throw new EnvelopeFormatException(EnvelopeFormatError.Corrupt, $"The {field} is not valid UTF-8.");
            }
        }

        private static EnvelopeFormatException Truncated(string field) =>
            new(EnvelopeFormatError.Corrupt, $"The envelope ends inside its {field}.");
    }
}

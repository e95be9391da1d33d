using System.Text;

namespace SqliteBackplane.Internal.Messaging;

/// <summary>
/// Reads the primitive fields of an envelope (docs/envelope.md): bytes, unsigned LEB128 varints, UTF-8 strings with a
/// varint length, nullable strings with a varint (length + 1). Every problem is an <see cref="EnvelopeFormatException"/>;
/// counts are bounded by the bytes left, so corrupt input cannot make it allocate much.
/// </summary>
internal ref struct EnvelopeReader(ReadOnlyMemory<byte> body)
{
    private readonly ReadOnlyMemory<byte> _body = body;
    private int _position;

    public readonly int Remaining => _body.Length - _position;

    public readonly int Position => _position;

    /// <summary>The next byte, not consumed; only when <see cref="Remaining"/> is positive.</summary>
    public readonly byte Peek() => _body.Span[_position];

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

    public ulong ReadVarint64(string field)
    {
        ulong value = 0;
        for (var shift = 0; shift < 70; shift += 7)
        {
            var b = ReadByte(field);
            if (shift == 63 && b > 0x01)
            {
                throw new EnvelopeFormatException(EnvelopeFormatError.Corrupt, $"The {field} does not fit in 64 bits.");
            }

            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw new EnvelopeFormatException(EnvelopeFormatError.Corrupt, $"The {field} is not a valid varint.");
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
            return EnvelopeWriter.Utf8.GetString(bytes.Span);
        }
        catch (DecoderFallbackException)
        {
            throw new EnvelopeFormatException(EnvelopeFormatError.Corrupt, $"The {field} is not valid UTF-8.");
        }
    }

    private static EnvelopeFormatException Truncated(string field) =>
        new(EnvelopeFormatError.Corrupt, $"The envelope ends inside its {field}.");
}

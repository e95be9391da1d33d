using System.Buffers;
using System.Text;

namespace SqliteBackplane.Internal.Messaging;

/// <summary>Writes the primitive fields of an envelope; <see cref="EnvelopeReader"/> reads them back (docs/envelope.md).</summary>
internal static class EnvelopeWriter
{
    public static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static void WriteByte(IBufferWriter<byte> output, byte value)
    {
        output.GetSpan(1)[0] = value;
        output.Advance(1);
    }

    public static void WriteStrings(IBufferWriter<byte> output, IReadOnlyList<string> values)
    {
        WriteVarint(output, (uint)values.Count);
        foreach (var value in values)
        {
            WriteString(output, value);
        }
    }

    public static void WriteString(IBufferWriter<byte> output, string value)
    {
        var length = Utf8.GetByteCount(value);
        WriteVarint(output, (uint)length);
        WriteUtf8(output, value, length);
    }

    public static void WriteNullableString(IBufferWriter<byte> output, string? value)
    {
        if (value is null)
        {
            WriteVarint(output, 0);
            return;
        }

        var length = Utf8.GetByteCount(value);
        WriteVarint(output, (uint)length + 1);
        WriteUtf8(output, value, length);
    }

    public static void WritePayloads(IBufferWriter<byte> output, IReadOnlyList<ProtocolPayload> payloads)
    {
        WriteVarint(output, (uint)payloads.Count);
        foreach (var payload in payloads)
        {
            WriteString(output, payload.ProtocolName);
            WriteVarint(output, (uint)payload.Bytes.Length);
            output.Write(payload.Bytes.Span);
        }
    }

    public static void WriteVarint(IBufferWriter<byte> output, uint value) => WriteVarint64(output, value);

    public static void WriteVarint64(IBufferWriter<byte> output, ulong value)
    {
        var span = output.GetSpan(10);
        var written = 0;
        while (value >= 0x80)
        {
            span[written++] = (byte)(value | 0x80);
            value >>= 7;
        }

        span[written++] = (byte)value;
        output.Advance(written);
    }

    private static void WriteUtf8(IBufferWriter<byte> output, string value, int length)
    {
        var span = output.GetSpan(length);
        Utf8.GetBytes(value, span);
        output.Advance(length);
    }
}

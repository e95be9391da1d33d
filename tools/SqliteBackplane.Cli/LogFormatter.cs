using System.Text;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Maintenance;

namespace SqliteBackplane.Cli;

/// <summary>
/// Prints one log row: a header line (id, time, hub, kind, targets, writer node), then one line per protocol payload,
/// truncated to the width. Text payloads (JSON) print as text, binary ones (MessagePack) as hex.
/// </summary>
internal static class LogFormatter
{
    private const char RecordSeparator = '\u001e';
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static void Write(TextWriter output, LogEntry row, int width)
    {
        var header = new StringBuilder();
        header.Append('#').Append(row.Id).Append("  ").Append(Formatting.Time(row.CreatedAt)).Append("  ")
            .Append(row.Hub.Length == 0 ? "-" : row.Hub).Append("  ");

        Envelope envelope;
        try
        {
            envelope = EnvelopeProtocol.Read(row.Body);
        }
        catch (EnvelopeFormatException ex)
        {
            header.Append(Enum.IsDefined(row.Kind) ? row.Kind.ToString() : $"kind {(int)row.Kind}")
                .Append("  undecodable (").Append(row.Body.Length).Append(" bytes): ").Append(ex.Message);
            output.WriteLine(header.ToString());
            return;
        }

        header.Append(envelope.Kind);
        if (envelope.Targets.Count > 0)
        {
            header.Append("  targets=[").Append(string.Join(", ", envelope.Targets)).Append(']');
        }

        if (envelope.Excluded.Count > 0)
        {
            header.Append("  excluded=[").Append(string.Join(", ", envelope.Excluded)).Append(']');
        }

        if (envelope.InvocationId is not null)
        {
            header.Append("  invocation=").Append(envelope.InvocationId);
        }

        if (envelope.ReplyNodeId is not null)
        {
            header.Append("  reply-to=").Append(envelope.ReplyNodeId);
        }

        header.Append("  node=").Append(row.NodeId);
        output.WriteLine(header.ToString());

        foreach (var payload in envelope.Payloads)
        {
            var prefix = $"    {payload.ProtocolName} ({payload.Bytes.Length} B): ";
            output.WriteLine(prefix + Preview(payload.Bytes.Span, Math.Max(8, width - prefix.Length)));
        }
    }

    /// <summary>The payload as text when it is printable UTF-8, else as hex; at most <paramref name="width"/> characters.</summary>
    public static string Preview(ReadOnlySpan<byte> bytes, int width)
    {
        string? text = null;
        try
        {
            text = StrictUtf8.GetString(bytes).TrimEnd(RecordSeparator);
        }
        catch (DecoderFallbackException)
        {
        }

        if (text is not null && !text.Any(c => char.IsControl(c) && c is not ('\t' or '\n' or '\r' or RecordSeparator)))
        {
            return Truncate(text.Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)
                .Replace(RecordSeparator.ToString(), " | ", StringComparison.Ordinal), width);
        }

        var hexBytes = Math.Min(bytes.Length, width / 2);
        var hex = "0x" + Convert.ToHexString(bytes[..hexBytes]).ToLowerInvariant();
        return hexBytes < bytes.Length ? Truncate(hex + new string('.', width), width) : hex;
    }

    private static string Truncate(string text, int width) =>
        text.Length <= width ? text : string.Concat(text.AsSpan(0, width - 1), "…");
}

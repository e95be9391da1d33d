using System.Text;
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

    public static void Write(TextWriter output, SqliteBackplaneLogEntry entry, int width)
    {
        var header = new StringBuilder();
        header.Append('#').Append(entry.Id).Append("  ").Append(Formatting.Time(entry.CreatedAt)).Append("  ")
            .Append(entry.Hub.Length == 0 ? "-" : entry.Hub).Append("  ").Append(entry.Kind);

        if (entry.DecodeError is not null)
        {
            header.Append("  undecodable (").Append(entry.BodyLength).Append(" bytes): ").Append(entry.DecodeError);
            output.WriteLine(header.ToString());
            return;
        }

        if (entry.Targets.Count > 0)
        {
            header.Append("  targets=[").Append(string.Join(", ", entry.Targets)).Append(']');
        }

        if (entry.Excluded.Count > 0)
        {
            header.Append("  excluded=[").Append(string.Join(", ", entry.Excluded)).Append(']');
        }

        if (entry.InvocationId is not null)
        {
            header.Append("  invocation=").Append(entry.InvocationId);
        }

        if (entry.ReplyNodeId is not null)
        {
            header.Append("  reply-to=").Append(entry.ReplyNodeId);
        }

        header.Append("  node=").Append(entry.NodeId);
        output.WriteLine(header.ToString());

        foreach (var payload in entry.Payloads)
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

using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace SqliteBackplane.TestServer;

/// <summary>
/// A custom hub protocol for tests: System.Text.Json messages, each preceded by a '#'. Its bytes differ from every
/// built-in protocol, so a backplane that hands a connection bytes serialized for another protocol breaks the
/// connection instead of passing by accident.
/// </summary>
public sealed class PrefixedJsonHubProtocol : IHubProtocol
{
    /// <summary>The protocol name clients ask for in the handshake.</summary>
    public const string ProtocolName = "prefixedjson";

    private const byte Prefix = (byte)'#';
    private readonly JsonHubProtocol _inner = new();

    /// <inheritdoc />
    public string Name => ProtocolName;

    /// <inheritdoc />
    public int Version => 1;

    /// <inheritdoc />
    public TransferFormat TransferFormat => TransferFormat.Text;

    /// <inheritdoc />
    public bool IsVersionSupported(int version) => version == Version;

    /// <inheritdoc />
    public bool TryParseMessage(ref ReadOnlySequence<byte> input, IInvocationBinder binder, [NotNullWhen(true)] out HubMessage? message)
    {
        message = null;
        if (input.IsEmpty)
        {
            return false;
        }
        if (input.FirstSpan[0] != Prefix)
        {
            throw new InvalidDataException($"A '{ProtocolName}' message must start with '#'; these bytes were written for another protocol.");
        }
        var rest = input.Slice(1);
        if (!_inner.TryParseMessage(ref rest, binder, out message))
        {
            return false;
        }
        input = rest;
        return true;
    }

    /// <inheritdoc />
    public void WriteMessage(HubMessage message, IBufferWriter<byte> output)
    {
        output.Write([Prefix]);
        _inner.WriteMessage(message, output);
    }

    /// <inheritdoc />
    public ReadOnlyMemory<byte> GetMessageBytes(HubMessage message)
    {
        var buffer = new ArrayBufferWriter<byte>();
        WriteMessage(message, buffer);
        return buffer.WrittenMemory;
    }
}

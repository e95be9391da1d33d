using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace SqliteBackplane.Internal.Messaging;

/// <summary>
/// Serializes a hub message once for each hub protocol the hub accepts (JSON, Newtonsoft, MessagePack, custom), so
/// readers hand ready bytes to every connection whatever its protocol.
/// </summary>
internal sealed class HubMessageSerializer
{
    private readonly IHubProtocol[] _protocols;

    public HubMessageSerializer(IHubProtocolResolver resolver, IList<string>? supportedProtocols)
    {
        var all = resolver.AllProtocols;
        _protocols = supportedProtocols is null
            ? [.. all]
            : [.. all.Where(p => supportedProtocols.Contains(p.Name, StringComparer.OrdinalIgnoreCase))];
        if (_protocols.Length == 0)
        {
            _protocols = [.. all];
        }
    }

    public IReadOnlyList<IHubProtocol> Protocols => _protocols;

    public ProtocolPayload[] Serialize(HubMessage message)
    {
        var payloads = new ProtocolPayload[_protocols.Length];
        for (var i = 0; i < _protocols.Length; i++)
        {
            payloads[i] = new ProtocolPayload(_protocols[i].Name, _protocols[i].GetMessageBytes(message));
        }

        return payloads;
    }

    public IHubProtocol? Find(string protocolName)
    {
        foreach (var protocol in _protocols)
        {
            if (string.Equals(protocol.Name, protocolName, StringComparison.OrdinalIgnoreCase))
            {
                return protocol;
            }
        }

        return null;
    }

    public static SerializedHubMessage ToSerializedHubMessage(IReadOnlyList<ProtocolPayload> payloads)
    {
        var messages = new SerializedMessage[payloads.Count];
        for (var i = 0; i < messages.Length; i++)
        {
            messages[i] = new SerializedMessage(payloads[i].ProtocolName, payloads[i].Bytes);
        }

        return new SerializedHubMessage(messages);
    }
}

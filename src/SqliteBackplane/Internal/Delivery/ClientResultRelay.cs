using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.Logging;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane.Internal.Delivery;

/// <summary>
/// Client results across nodes for one hub: the waits of this node's callers (<see cref="Router"/>), and the
/// completion rows that carry a result from the node holding the connection back to the node that asked.
/// </summary>
internal sealed class ClientResultRelay(string hubName, IDeliveryNode node, HubMessageSerializer serializer, ILogger logger)
{
    public ClientResultRouter Router { get; } = new();

    /// <summary>Sends a completion back to the node that invoked the client, in the background.</summary>
    public void Forward(ProxiedInvocation proxied, CompletionMessage completion, IHubProtocol? protocol) =>
        _ = ForwardAsync(proxied, completion, protocol);

    public async Task ForwardAsync(ProxiedInvocation proxied, CompletionMessage completion, IHubProtocol? protocol)
    {
        try
        {
            protocol = serializer.Find(proxied.ProtocolName) ?? protocol ?? serializer.Protocols[0];
            var envelope = new ClientCompletionRow
            {
                OriginNodeId = proxied.OriginNodeId,
                InvocationId = completion.InvocationId ?? "",
                Payloads = [new ProtocolPayload(protocol.Name, protocol.GetMessageBytes(completion))],
            };
            await node.WriteAsync(new AppendMessageOperation(hubName, MessageKind.ClientCompletion, EnvelopeProtocol.Write(envelope, node.Protection)));
        }
        catch (Exception ex)
        {
            BackplaneEvents.ClientResultForwardFailed(logger, completion.InvocationId ?? "", proxied.OriginNodeId, ex);
        }
    }

    /// <summary>Fails, back to their callers, the invocations proxied to a connection that is leaving.</summary>
    public void FailProxiedFor(string connectionId)
    {
        foreach (var (invocationId, proxied) in Router.TakeProxiedForConnection(connectionId))
        {
            Forward(proxied, CompletionMessage.WithError(invocationId, BackplaneErrors.RemoteConnectionDisconnected), protocol: null);
        }
    }

    /// <summary>Applies a completion row addressed to this node: the waiting caller gets its result.</summary>
    public void ApplyCompletion(ClientCompletionRow envelope)
    {
        if (envelope.Payloads.Count == 0 || !Router.TryGetPending(envelope.InvocationId, out var pending))
        {
            return;
        }

        var payload = envelope.Payloads[0];
        var protocol = serializer.Find(payload.ProtocolName);
        CompletionMessage completion;
        if (protocol is null)
        {
            BackplaneEvents.ClientResultProtocolUnknown(logger, payload.ProtocolName, envelope.InvocationId);
            completion = CompletionMessage.WithError(envelope.InvocationId, $"The client's result arrived in hub protocol '{payload.ProtocolName}', which this server does not have.");
        }
        else
        {
            completion = ClientResultRouter.ParseCompletion(protocol, payload.Bytes, pending);
        }

        Router.TryComplete(pending.ConnectionId, completion);
    }

    /// <summary>Fails the callers that wait on a connection held by a node that is gone.</summary>
    public void OnNodeGone(string nodeId)
    {
        foreach (var failed in Router.FailForNode(nodeId))
        {
            BackplaneEvents.ClientResultNodeGone(logger, failed.InvocationId, failed.ConnectionId, nodeId);
        }
    }
}

using Microsoft.AspNetCore.SignalR.Protocol;
using SqliteBackplane.Internal.Diagnostics;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane.Internal.Node;

/// <summary>
/// Turns one hub's sends into log rows: serializes the message once per hub protocol (bounded by
/// <see cref="SqliteBackplaneOptions.MaxMessageBytes"/>), applies the log's capacity policy, and queues the row (a send
/// returns once queued) or, when the log refuses sends at capacity, writes it so the caller learns of a refusal.
/// </summary>
internal sealed class HubLogAppender(BackplaneNode node, string hubName, Type hubType, HubMessageSerializer serializer, int maxMessageBytes)
{
    /// <summary>Appends a send of <paramref name="methodName"/> to <paramref name="targets"/> of <paramref name="kind"/>.</summary>
    public Task AppendAsync(MessageKind kind, IReadOnlyList<string> targets, IReadOnlyList<string> excluded, string methodName, object?[] args,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(methodName);
        cancellationToken.ThrowIfCancellationRequested();
        var envelope = new SendRow(kind)
        {
            Targets = targets,
            Excluded = excluded,
            Payloads = Serialize(new InvocationMessage(methodName, args)),
        };
        var (capacity, source) = node.CapacityPolicy.CapacityFor(hubType, kind, targets);
        var body = EnvelopeProtocol.Write(envelope, node.Protection);
        // A send returns once queued, unless the log refuses sends at capacity: then its caller must learn of a refusal.
        return node.CapacityPolicy.Mode == SqliteBackplaneLogFullMode.RejectNewMessages
            ? node.WriteAsync(new CappedAppendOperation(hubName, kind, body, capacity, source, SqliteBackplaneLogFullMode.RejectNewMessages))
            : node.Sends.SendAsync(new QueuedAppendOperation(hubName, kind, body, capacity, source, node.Admission), cancellationToken);
    }

    /// <summary>Serializes <paramref name="message"/> with every hub protocol in use; throws when the payloads pass the size bound.</summary>
    public ProtocolPayload[] Serialize(HubMessage message)
    {
        var payloads = serializer.Serialize(message);
        var size = 0L;
        foreach (var payload in payloads)
        {
            size += payload.Bytes.Length;
        }

        if (size > maxMessageBytes)
        {
            throw BackplaneErrors.MessageTooLarge((int)Math.Min(size, int.MaxValue), maxMessageBytes);
        }

        return payloads;
    }
}

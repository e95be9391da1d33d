using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Microsoft.AspNetCore.SignalR.Protocol;
using SqliteBackplane.Internal.Delivery;
using SqliteBackplane.Internal.Diagnostics;
using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane.Internal.Node;

/// <summary>
/// Client results for one hub: an invocation of a method on one client that returns a value, sent directly to a local
/// connection or through the log to the node that holds it, and the client's completion routed back to the waiting
/// caller (here, or on the node that asked).
/// </summary>
internal sealed class HubClientInvocations(BackplaneNode node, string hubName, LocalHub local, ConnectionWriter writer, ClientResultRelay clientResults,
    HubLogAppender appender)
{
    private long _lastInvocationId;

    /// <summary>Invokes <paramref name="methodName"/> on the connection and returns its result.</summary>
    public async Task<T> InvokeAsync<T>(string connectionId, string methodName, object?[] args, CancellationToken cancellationToken)
    {
        var connection = local[connectionId];
        // Unique across nodes: node ids are unique per process start.
        var invocationId = node.NodeId + Interlocked.Increment(ref _lastInvocationId).ToString(CultureInfo.InvariantCulture);
        using var linked = connection is null ? null : CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, connection.ConnectionAborted);
        var result = clientResults.Router.AddPending<T>(connectionId, invocationId, linked?.Token ?? cancellationToken, out var pending);

        try
        {
            var invocation = new InvocationMessage(invocationId, methodName, args);
            if (connection is not null)
            {
                await writer.SendDirectAsync(connection, invocation, cancellationToken);
            }
            else
            {
                var payloads = appender.Serialize(invocation);
                var owner = await node.WriteAsync(new ClientInvocationOperation(hubName, connectionId, invocationId, payloads, holder => pending.TargetNodeId = holder, node.Protection));
                if (owner is null)
                {
                    throw BackplaneErrors.ConnectionDoesNotExist(connectionId);
                }
            }
        }
        catch
        {
            clientResults.Router.RemovePending(invocationId);
            throw;
        }

        try
        {
            return await result;
        }
        catch when (connection?.ConnectionAborted.IsCancellationRequested == true)
        {
            // The abort surfaces as a generic cancellation error; report it as the built-in managers do.
            throw BackplaneErrors.LocalConnectionDisconnected(connectionId);
        }
    }

    /// <summary>A client's completion of an invocation: sent back to the node that asked, or completes the local caller.</summary>
    public Task SetResultAsync(string connectionId, CompletionMessage result)
    {
        if (result.InvocationId is not null && clientResults.Router.TryTakeProxied(connectionId, result.InvocationId, out var proxied))
        {
            return clientResults.ForwardAsync(proxied, result, local[connectionId]?.Protocol);
        }

        clientResults.Router.TryComplete(connectionId, result);
        return Task.CompletedTask;
    }

    /// <summary>The type the caller of a pending invocation expects, for the hub protocol to read the result as.</summary>
    public bool TryGetReturnType(string invocationId, [NotNullWhen(true)] out Type? type) =>
        clientResults.Router.TryGetReturnType(invocationId, out type);
}

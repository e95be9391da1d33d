using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane.Internal.Delivery;

/// <summary>
/// Client results for one hub on one node. "Pending" invocations were started here and await a completion; "proxied"
/// invocations were started on another node for a connection held here, and their completion is forwarded back
/// through the log. Exception types and messages match Microsoft's Redis backplane.
/// </summary>
internal sealed class ClientResultRouter
{
    private readonly ConcurrentDictionary<string, PendingInvocation> _pending = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ProxiedInvocation> _proxied = new(StringComparer.Ordinal);

    public Task<T> AddPending<T>(string connectionId, string invocationId, CancellationToken cancellationToken, out PendingInvocation pending)
    {
        var typed = new PendingInvocation<T>(connectionId, invocationId);
        pending = typed;
        _pending[invocationId] = typed;
        if (cancellationToken.CanBeCanceled)
        {
            // Registered after the entry exists, so a token that is already cancelled completes it at once.
            typed.Registration = cancellationToken.UnsafeRegister(static state =>
            {
                var (router, invocation) = ((ClientResultRouter, PendingInvocation))state!;
                router.TryComplete(invocation.ConnectionId, CompletionMessage.WithError(invocation.InvocationId, BackplaneErrors.InvocationCanceled));
            }, (this, (PendingInvocation)typed));
        }

        return typed.Task;
    }

    public void RemovePending(string invocationId)
    {
        if (_pending.TryRemove(invocationId, out var pending))
        {
            pending.Registration.Dispose();
        }
    }

    public bool TryGetPending(string invocationId, [NotNullWhen(true)] out PendingInvocation? pending) => _pending.TryGetValue(invocationId, out pending);

    /// <summary>Completes a pending invocation. Throws when another connection tries to complete it.</summary>
    public void TryComplete(string connectionId, CompletionMessage message)
    {
        if (message.InvocationId is null || !_pending.TryGetValue(message.InvocationId, out var pending))
        {
            // Already completed, cancelled, or never ours: a late or misbehaving client.
            return;
        }

        if (pending.ConnectionId != connectionId)
        {
            throw BackplaneErrors.WrongConnectionForInvocation(connectionId, message.InvocationId);
        }

        if (_pending.TryRemove(message.InvocationId, out _))
        {
            pending.Registration.Dispose();
            pending.Complete(message);
        }
    }

    public void AddProxied(string invocationId, ProxiedInvocation invocation) => _proxied[invocationId] = invocation;

    /// <summary>Takes the proxied invocation for a completion from <paramref name="connectionId"/>, if there is one.</summary>
    public bool TryTakeProxied(string connectionId, string invocationId, [NotNullWhen(true)] out ProxiedInvocation? invocation)
    {
        if (!_proxied.TryGetValue(invocationId, out invocation))
        {
            return false;
        }

        if (invocation.ConnectionId != connectionId)
        {
            throw BackplaneErrors.WrongConnectionForInvocation(connectionId, invocationId);
        }

        return _proxied.TryRemove(invocationId, out invocation);
    }

    public bool TryGetReturnType(string invocationId, [NotNullWhen(true)] out Type? type)
    {
        if (_pending.TryGetValue(invocationId, out var pending))
        {
            type = pending.ResultType;
            return true;
        }

        if (_proxied.ContainsKey(invocationId))
        {
            // Keep the client's bytes as they are; the node that asked deserializes them to its own type.
            type = typeof(RawResult);
            return true;
        }

        type = null;
        return false;
    }

    /// <summary>Removes and returns the proxied invocations of a connection that went away.</summary>
    public List<(string InvocationId, ProxiedInvocation Invocation)> TakeProxiedForConnection(string connectionId) =>
        TakeProxied(p => p.ConnectionId == connectionId);

    /// <summary>Fails pending invocations whose connection lived on a node that is gone, and drops proxies for it.</summary>
    public List<PendingInvocation> FailForNode(string nodeId)
    {
        TakeProxied(p => p.OriginNodeId == nodeId);
        var failed = new List<PendingInvocation>();
        foreach (var (invocationId, pending) in _pending)
        {
            if (pending.TargetNodeId == nodeId && _pending.TryRemove(invocationId, out _))
            {
                pending.Registration.Dispose();
                pending.Complete(CompletionMessage.WithError(invocationId, BackplaneErrors.RemoteConnectionDisconnected));
                failed.Add(pending);
            }
        }

        return failed;
    }

    private List<(string, ProxiedInvocation)> TakeProxied(Func<ProxiedInvocation, bool> match)
    {
        var taken = new List<(string, ProxiedInvocation)>();
        foreach (var (invocationId, invocation) in _proxied)
        {
            if (match(invocation) && _proxied.TryRemove(invocationId, out _))
            {
                taken.Add((invocationId, invocation));
            }
        }

        return taken;
    }

    /// <summary>Parses a forwarded completion in the client's protocol into the type the pending caller expects.</summary>
    public static CompletionMessage ParseCompletion(IHubProtocol protocol, ReadOnlyMemory<byte> bytes, PendingInvocation pending)
    {
        var sequence = new ReadOnlySequence<byte>(bytes);
        try
        {
            if (protocol.TryParseMessage(ref sequence, new ReturnTypeBinder(pending.ResultType), out var message) && message is CompletionMessage completion)
            {
                return completion;
            }
        }
        catch (Exception ex)
        {
            return CompletionMessage.WithError(pending.InvocationId, $"Error trying to deserialize result to {pending.ResultType.Name}. {ex.Message}");
        }

        return CompletionMessage.WithError(pending.InvocationId, $"Error trying to deserialize result to {pending.ResultType.Name}. The forwarded completion was malformed.");
    }

    private sealed class ReturnTypeBinder(Type returnType) : IInvocationBinder
    {
        public Type GetReturnType(string invocationId) => returnType;

        public IReadOnlyList<Type> GetParameterTypes(string methodName) => throw new NotSupportedException("Only completions are parsed here.");

        public Type GetStreamItemType(string streamId) => throw new NotSupportedException("Only completions are parsed here.");
    }
}

/// <summary>An invocation started on this node, waiting for a client's completion.</summary>
internal abstract class PendingInvocation(string connectionId, string invocationId)
{
    public string ConnectionId { get; } = connectionId;

    public string InvocationId { get; } = invocationId;

    /// <summary>The node holding the connection; null while unknown or when local. Set on the writer thread before commit.</summary>
    public volatile string? TargetNodeId;

    public CancellationTokenRegistration Registration;

    public abstract Type ResultType { get; }

    public abstract void Complete(CompletionMessage message);
}

internal sealed class PendingInvocation<T>(string connectionId, string invocationId) : PendingInvocation(connectionId, invocationId)
{
    private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<T> Task => _completion.Task;

    public override Type ResultType => typeof(T);

    public override void Complete(CompletionMessage message)
    {
        if (!message.HasResult)
        {
            _completion.TrySetException(new HubException(message.Error));
            return;
        }

        try
        {
            _completion.TrySetResult((T)message.Result!);
        }
        catch (InvalidCastException ex)
        {
            _completion.TrySetException(ex);
        }
    }
}

/// <summary>An invocation another node started for a connection held here.</summary>
internal sealed record ProxiedInvocation(string ConnectionId, string OriginNodeId, string ProtocolName);

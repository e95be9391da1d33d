using System.Buffers;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace SqliteBackplane.Client;

/// <summary>
/// Wraps the connection's hub protocol to follow the log position: it reads the reserved <c>sqlitebackplane:*</c>
/// invocations and watches the others. The reserved ones still go on to the connection, where the helper's own no-op
/// handlers take them (the app's handlers never see them), so SignalR's stateful reconnect counts every message the
/// server sent. Writing is unchanged.
/// </summary>
internal sealed class ResumeHubProtocol(IHubProtocol inner, ResumeState state, SqliteBackplaneResumeOptions options) : IHubProtocol
{
    public const string ReservedPrefix = "sqlitebackplane:";
    public const string Token = "sqlitebackplane:token";
    public const string Position = "sqlitebackplane:pos";
    public const string Gap = "sqlitebackplane:gap";

    /// <summary>The reserved methods with their parameter types, for the helper's handlers.</summary>
    public static readonly (string Method, Type[] Parameters)[] ReservedMethods =
    [
        (Token, [typeof(string), typeof(long)]),
        (Position, [typeof(long)]),
        (Gap, [typeof(string)]),
    ];

    public string Name => inner.Name;

    public int Version => inner.Version;

    public TransferFormat TransferFormat => inner.TransferFormat;

    public bool IsVersionSupported(int version) => inner.IsVersionSupported(version);

    public ReadOnlyMemory<byte> GetMessageBytes(HubMessage message) => inner.GetMessageBytes(message);

    public void WriteMessage(HubMessage message, IBufferWriter<byte> output) => inner.WriteMessage(message, output);

    public bool TryParseMessage(ref ReadOnlySequence<byte> input, IInvocationBinder binder, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out HubMessage? message)
    {
        if (!inner.TryParseMessage(ref input, binder, out message))
        {
            return false;
        }

        if (message is InvocationMessage { InvocationId: null } invocation)
        {
            if (invocation.Target.StartsWith(ReservedPrefix, StringComparison.Ordinal))
            {
                Handle(invocation);
            }
            else
            {
                state.OnDelivered();
            }
        }

        return true;
    }

    private void Handle(InvocationMessage invocation)
    {
        var arguments = invocation.Arguments;
        switch (invocation.Target)
        {
            case Position when arguments.Length >= 1 && arguments[0] is long position:
                state.OnMarker(position);
                break;
            case Token when arguments.Length >= 2 && arguments[0] is string token && arguments[1] is long position:
                state.OnToken(token, position);
                break;
            case Gap when arguments.Length >= 1 && arguments[0] is string reason:
                try
                {
                    options.OnGap?.Invoke(reason);
                }
                catch
                {
                    // The app's callback must not break the receive loop.
                }

                break;
        }
    }
}

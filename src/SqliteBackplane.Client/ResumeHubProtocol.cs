using System.Buffers;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace SqliteBackplane.Client;

/// <summary>
/// Wraps the connection's hub protocol: consumes the reserved <c>sqlitebackplane:*</c> invocations (the app never sees
/// them) and watches the others to commit the log position. Writing is unchanged.
/// </summary>
internal sealed class ResumeHubProtocol(IHubProtocol inner, ResumeState state, SqliteBackplaneResumeOptions options) : IHubProtocol
{
    private const string ReservedPrefix = "sqlitebackplane:";
    private const string Token = "sqlitebackplane:token";
    private const string Position = "sqlitebackplane:pos";
    private const string Gap = "sqlitebackplane:gap";

    private static readonly Type[] TokenParameters = [typeof(string), typeof(long)];
    private static readonly Type[] PositionParameters = [typeof(long)];
    private static readonly Type[] GapParameters = [typeof(string)];

    private ReservedBinder? _binder;

    public string Name => inner.Name;

    public int Version => inner.Version;

    public TransferFormat TransferFormat => inner.TransferFormat;

    public bool IsVersionSupported(int version) => inner.IsVersionSupported(version);

    public ReadOnlyMemory<byte> GetMessageBytes(HubMessage message) => inner.GetMessageBytes(message);

    public void WriteMessage(HubMessage message, IBufferWriter<byte> output) => inner.WriteMessage(message, output);

    public bool TryParseMessage(ref ReadOnlySequence<byte> input, IInvocationBinder binder, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out HubMessage? message)
    {
        // One receive loop per connection parses at a time; the binder is the connection's, so the wrapper is reused.
        var wrapped = _binder is { } cached && ReferenceEquals(cached.Inner, binder) ? cached : _binder = new ReservedBinder(binder);
        while (inner.TryParseMessage(ref input, wrapped, out message))
        {
            if (message is not InvocationMessage { InvocationId: null } invocation)
            {
                return true;
            }

            if (!invocation.Target.StartsWith(ReservedPrefix, StringComparison.Ordinal))
            {
                state.OnDelivered();
                return true;
            }

            Handle(invocation);
        }

        return false;
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

    private sealed class ReservedBinder(IInvocationBinder inner) : IInvocationBinder
    {
        public IInvocationBinder Inner => inner;

        public IReadOnlyList<Type> GetParameterTypes(string methodName) => methodName switch
        {
            Position => PositionParameters,
            Token => TokenParameters,
            Gap => GapParameters,
            _ => inner.GetParameterTypes(methodName),
        };

        public Type GetReturnType(string invocationId) => inner.GetReturnType(invocationId);

        public Type GetStreamItemType(string streamId) => inner.GetStreamItemType(streamId);

        string? IInvocationBinder.GetTarget(ReadOnlySpan<byte> utf8Bytes) => inner.GetTarget(utf8Bytes);
    }
}

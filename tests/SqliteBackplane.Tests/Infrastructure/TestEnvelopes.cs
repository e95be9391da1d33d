using Microsoft.AspNetCore.SignalR.Protocol;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.TestServer;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>Log row bodies written by hand, as the library would write them.</summary>
internal static class TestEnvelopes
{
    /// <summary>A send to all: <c>Receive(text)</c> in every protocol of <see cref="TestProtocolResolver"/>.</summary>
    public static byte[] Broadcast(string text) => EnvelopeProtocol.Write(new SendRow(MessageKind.All)
    {
        Payloads = [.. new TestProtocolResolver().AllProtocols.Select(p => new ProtocolPayload(p.Name, p.GetMessageBytes(new InvocationMessage(ClientMethods.Receive, [text]))))],
    });
}

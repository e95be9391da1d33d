using System.Buffers;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using SqliteBackplane.Client;
using Xunit;

namespace SqliteBackplane.Tests.Core;

/// <summary>The .NET resume helper's side of the wire (docs/resume.md): what it consumes, and when a position counts as received.</summary>
public sealed class ResumeClientTests
{
    [Fact]
    public void Reserved_invocations_are_read_and_a_position_is_committed_only_by_its_message()
    {
        var state = new ResumeState();
        var gaps = new List<string>();
        var protocol = new ResumeHubProtocol(new JsonHubProtocol(), state, new SqliteBackplaneResumeOptions { OnGap = gaps.Add });
        var input = Frames(
            new InvocationMessage("sqlitebackplane:gap", ["expired"]),
            new InvocationMessage("sqlitebackplane:token", ["tok~1~mac", 7L]),
            new InvocationMessage("sqlitebackplane:pos", [8L]),
            new InvocationMessage("Receive", ["m8"]),
            new InvocationMessage("sqlitebackplane:pos", [9L]),
            new InvocationMessage("client-result-1", "Compute", [1]),
            new InvocationMessage("Receive", ["m9"]),
            new InvocationMessage("sqlitebackplane:pos", [10L]));

        var delivered = new List<HubMessage>();
        while (protocol.TryParseMessage(ref input, new Binder(), out var message))
        {
            delivered.Add(message);
            if (message is InvocationMessage { Target: "Receive" } received && received.Arguments[0] is "m8")
            {
                Assert.Equal(8, state.Position);
            }
        }

        // Passed on (the helper's no-op handlers take the reserved ones), so stateful reconnect counts them as the server does.
        Assert.Equal(["sqlitebackplane:gap", "sqlitebackplane:token", "sqlitebackplane:pos", "Receive", "sqlitebackplane:pos", "Compute", "Receive", "sqlitebackplane:pos"],
            delivered.Cast<InvocationMessage>().Select(m => m.Target));
        Assert.Equal(["expired"], gaps);
        // m9 committed 9; the marker for 10 had no message before the "drop", so 10 is replayed.
        Assert.Equal(9, state.Position);
        state.OnConnecting();
        Assert.Equal("tok~1~mac.9", state.QueryValue());
    }

    [Fact]
    public void Every_connect_carries_the_ticket_and_keeps_the_other_query_parameters()
    {
        var first = ResumeConnectionFactory.WithTicket(new Uri("http://127.0.0.1:5000/hub?user=alice"), "1");
        Assert.Equal("http://127.0.0.1:5000/hub?user=alice&sqlitebackplane-resume=1", first.ToString());
        var next = ResumeConnectionFactory.WithTicket(first, "a-b_c~12~x.40");
        Assert.Equal("http://127.0.0.1:5000/hub?user=alice&sqlitebackplane-resume=a-b_c~12~x.40", next.ToString());
    }

    private static ReadOnlySequence<byte> Frames(params HubMessage[] messages)
    {
        var protocol = new JsonHubProtocol();
        var buffer = new ArrayBufferWriter<byte>();
        foreach (var message in messages)
        {
            protocol.WriteMessage(message, buffer);
        }

        return new ReadOnlySequence<byte>(buffer.WrittenMemory);
    }

    private sealed class Binder : IInvocationBinder
    {
        public IReadOnlyList<Type> GetParameterTypes(string methodName) =>
            ResumeHubProtocol.ReservedMethods.FirstOrDefault(m => m.Method == methodName).Parameters ?? (methodName == "Compute" ? [typeof(int)] : [typeof(string)]);

        public Type GetReturnType(string invocationId) => typeof(object);

        public Type GetStreamItemType(string streamId) => typeof(object);
    }
}

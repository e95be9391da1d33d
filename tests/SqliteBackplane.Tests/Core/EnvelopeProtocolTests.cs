using System.Text;
using SqliteBackplane.Internal.Messaging;
using Xunit;

namespace SqliteBackplane.Tests.Core;

/// <summary>The row envelope, version 2, byte for byte as docs/envelope.md describes it; and version 1 rows still read.</summary>
public class EnvelopeProtocolTests
{
    private static readonly ProtocolPayload Json = new("json", new byte[] { 0x7B, 0x7D, 0x1E });

    [Fact]
    public void A_send_is_written_as_documented()
    {
        var bytes = EnvelopeProtocol.Write(new SendRow(MessageKind.Groups) { Targets = ["g1"], Excluded = ["c"], Payloads = [Json] });

        byte[] expected =
        [
            0x02,                   // version 2
            0x03,                   // kind: Groups
            0x01, 0x02, 0x67, 0x31, // 1 target: "g1"
            0x01, 0x01, 0x63,       // 1 excluded: "c"
            0x01,                   // 1 payload
            0x04, 0x6A, 0x73, 0x6F, 0x6E, // protocol "json"
            0x03, 0x7B, 0x7D, 0x1E, // 3 bytes
        ];
        Assert.Equal(expected, bytes);
    }

    [Fact]
    public void Every_other_kind_is_written_as_documented()
    {
        Assert.Equal(
            [0x02, 0x05, 0x02, 0x63, 0x31, 0x01, 0x67], // GroupAdd: connection "c1", group "g"
            EnvelopeProtocol.Write(new GroupChangeRow { Added = true, ConnectionId = "c1", Group = "g" }));
        Assert.Equal(
            [0x02, 0x06, 0x01, 0x63, 0x01, 0x67], // GroupRemove: connection "c", group "g"
            EnvelopeProtocol.Write(new GroupChangeRow { Added = false, ConnectionId = "c", Group = "g" }));
        Assert.Equal(
            // ClientInvocation: connection "c", owner "o", invocation "i", origin "r", 1 payload "json" [0x01]
            [0x02, 0x07, 0x01, 0x63, 0x01, 0x6F, 0x01, 0x69, 0x01, 0x72, 0x01, 0x04, 0x6A, 0x73, 0x6F, 0x6E, 0x01, 0x01],
            EnvelopeProtocol.Write(new ClientInvocationRow
            {
                ConnectionId = "c", OwnerNodeId = "o", InvocationId = "i", OriginNodeId = "r", Payloads = [new ProtocolPayload("json", new byte[] { 1 })],
            }));
        Assert.Equal(
            [0x02, 0x08, 0x01, 0x72, 0x01, 0x69, 0x00], // ClientCompletion: origin "r", invocation "i", no payload
            EnvelopeProtocol.Write(new ClientCompletionRow { OriginNodeId = "r", InvocationId = "i" }));
        Assert.Equal(
            [0x02, 0x09, 0x01, 0x6E, 0x02, 0x72], // NodeGone: node "n", reaped by "r" (length + 1)
            EnvelopeProtocol.Write(new NodeGoneRow { NodeId = "n", ReapedBy = "r" }));
        Assert.Equal(
            [0x02, 0x09, 0x01, 0x6E, 0x00], // NodeGone: node "n", left by itself (null)
            EnvelopeProtocol.Write(new NodeGoneRow { NodeId = "n" }));
        Assert.Equal(
            // ConnectionLeft: node "n", 2 connections: "c" of user "u" (the user's last: flag 1), "d" without a user
            [0x02, 0x0B, 0x01, 0x6E, 0x02, 0x01, 0x63, 0x02, 0x75, 0x01, 0x01, 0x64, 0x00, 0x00],
            EnvelopeProtocol.Write(new PresenceRow { Joined = false, NodeId = "n", Connections = [new("c", "u", true), new("d", null, false)] }));
        Assert.Equal(
            [0x02, 0x0C, 0x01, 0x6E], // NodeJoined: node "n"
            EnvelopeProtocol.Write(new NodeJoinedRow { NodeId = "n" }));
        Assert.Equal(
            // Attach: connection "n", resumed ["o"], groups ["g"], replay after 300 (written as 301 = 0xAD 0x02), no gap
            [0x02, 0x0D, 0x01, 0x6E, 0x01, 0x01, 0x6F, 0x01, 0x01, 0x67, 0xAD, 0x02, 0x00],
            EnvelopeProtocol.Write(new AttachRow { ConnectionId = "n", Resumed = ["o"], Groups = ["g"], ReplayAfter = 300 }));
        Assert.Equal(
            // Attach at the end of a chain: connection "n" resumes "a" (the token's), which "b" resumed before it dropped
            [0x02, 0x0D, 0x01, 0x6E, 0x02, 0x01, 0x61, 0x01, 0x62, 0x00, 0x08, 0x00],
            EnvelopeProtocol.Write(new AttachRow { ConnectionId = "n", Resumed = ["a", "b"], ReplayAfter = 7 }));
        Assert.Equal(
            // Attach refused: connection "n", asked for "o", no groups, no replay, gap "user"
            [0x02, 0x0D, 0x01, 0x6E, 0x01, 0x01, 0x6F, 0x00, 0x00, 0x05, 0x75, 0x73, 0x65, 0x72],
            EnvelopeProtocol.Write(new AttachRow { ConnectionId = "n", Resumed = ["o"], GapReason = "user" }));
    }

    [Fact]
    public void Write_uses_multi_byte_varints_for_long_fields()
    {
        var longTarget = new string('a', 200);
        var bytes = EnvelopeProtocol.Write(new SendRow(MessageKind.Users) { Targets = [longTarget] });

        // 200 = 0b1100_1000 -> LEB128 0xC8 0x01
        Assert.Equal([0x02, 0x04, 0x01, 0xC8, 0x01], bytes[..5]);
        Assert.Equal(longTarget, Assert.Single(Assert.IsType<SendRow>(EnvelopeProtocol.Read(bytes)).Targets));
    }

    [Fact]
    public void Every_kind_round_trips_every_field_including_unicode()
    {
        var odd = "node-\u00e9\u4e2d\U0001F600";
        var send = Assert.IsType<SendRow>(RoundTrip(new SendRow(MessageKind.Connections)
        {
            Targets = ["connection-1", odd],
            Excluded = ["x", ""],
            Payloads = [new ProtocolPayload("json", Encoding.UTF8.GetBytes("{\"a\":1}")), new ProtocolPayload("newtonsoftjson", new byte[] { 1, 2, 3 })],
        }));
        Assert.Equal(MessageKind.Connections, send.Kind);
        Assert.Equal(["connection-1", odd], send.Targets);
        Assert.Equal(["x", ""], send.Excluded);
        Assert.Equal("newtonsoftjson", send.Payloads[1].ProtocolName);
        Assert.Equal(new byte[] { 1, 2, 3 }, send.Payloads[1].Bytes.ToArray());

        var invocation = Assert.IsType<ClientInvocationRow>(RoundTrip(new ClientInvocationRow
        {
            ConnectionId = "c", OwnerNodeId = odd, InvocationId = "inv-42", OriginNodeId = "origin", Payloads = [Json],
        }));
        Assert.Equal(("c", odd, "inv-42", "origin"), (invocation.ConnectionId, invocation.OwnerNodeId, invocation.InvocationId, invocation.OriginNodeId));
        Assert.Equal(Json.Bytes.ToArray(), Assert.Single(invocation.Payloads).Bytes.ToArray());

        var completion = Assert.IsType<ClientCompletionRow>(RoundTrip(new ClientCompletionRow { OriginNodeId = "o", InvocationId = "i", Payloads = [Json] }));
        Assert.Equal(("o", "i", "json"), (completion.OriginNodeId, completion.InvocationId, Assert.Single(completion.Payloads).ProtocolName));

        var leave = Assert.IsType<GroupChangeRow>(RoundTrip(new GroupChangeRow { Added = false, ConnectionId = "c", Group = odd }));
        Assert.Equal((MessageKind.GroupRemove, "c", odd), (leave.Kind, leave.ConnectionId, leave.Group));

        var joined = Assert.IsType<PresenceRow>(RoundTrip(new PresenceRow { Joined = true, NodeId = "n", Connections = [new("c", odd, true), new("d", null, false)] }));
        Assert.Equal((MessageKind.ConnectionJoined, "n"), (joined.Kind, joined.NodeId));
        Assert.Equal([new PresenceConnection("c", odd, true), new PresenceConnection("d", null, false)], joined.Connections);

        var gone = Assert.IsType<NodeGoneRow>(RoundTrip(new NodeGoneRow { NodeId = "n" }));
        Assert.Equal(("n", null), (gone.NodeId, gone.ReapedBy));
        Assert.Equal("n", Assert.IsType<NodeJoinedRow>(RoundTrip(new NodeJoinedRow { NodeId = "n" })).NodeId);

        var attach = Assert.IsType<AttachRow>(RoundTrip(new AttachRow { ConnectionId = "new", Resumed = ["old", odd], Groups = ["a", odd], ReplayAfter = 0 }));
        Assert.Equal(("new", "old", 0L, null), (attach.ConnectionId, attach.TokenConnectionId, attach.ReplayAfter, attach.GapReason));
        Assert.Equal(["old", odd], attach.Resumed);
        Assert.Equal(["a", odd], attach.Groups);
        var first = Assert.IsType<AttachRow>(RoundTrip(new AttachRow { ConnectionId = "new", ReplayAfter = long.MaxValue - 1 }));
        Assert.Equal((null, long.MaxValue - 1), (first.TokenConnectionId, first.ReplayAfter));
    }

    [Fact]
    public void Version_1_rows_of_the_previous_release_read_as_typed_rows()
    {
        // Version 1: kind, targets, excluded, invocation id, reply node id, payloads; attach rows reused the fields.
        byte[] attach =
        [
            0x01, 0x0D,             // version 1, Attach
            0x02, 0x01, 0x6E, 0x01, 0x6F, // targets: new "n", resumed "o"
            0x01, 0x01, 0x67,       // "excluded": its groups ["g"]
            0x04, 0x33, 0x30, 0x30, // "invocation id": the replay position "300"
            0x00,                   // "reply node id": no gap
            0x00,                   // no payload
        ];
        var row = Assert.IsType<AttachRow>(EnvelopeProtocol.Read(attach));
        Assert.Equal(("n", "o", 300L, null), (row.ConnectionId, Assert.Single(row.Resumed), row.ReplayAfter, row.GapReason));
        Assert.Equal(["g"], row.Groups);

        byte[] send = [0x01, 0x03, 0x01, 0x02, 0x67, 0x31, 0x01, 0x01, 0x63, 0x00, 0x02, 0x6E, 0x01, 0x04, 0x6A, 0x73, 0x6F, 0x6E, 0x03, 0x7B, 0x7D, 0x1E];
        var groups = Assert.IsType<SendRow>(EnvelopeProtocol.Read(send));
        Assert.Equal((MessageKind.Groups, "g1", "c", "json"), (groups.Kind, Assert.Single(groups.Targets), Assert.Single(groups.Excluded), Assert.Single(groups.Payloads).ProtocolName));

        byte[] invocation = [0x01, 0x07, 0x02, 0x01, 0x63, 0x01, 0x6F, 0x00, 0x02, 0x69, 0x02, 0x72, 0x00];
        var invoke = Assert.IsType<ClientInvocationRow>(EnvelopeProtocol.Read(invocation));
        Assert.Equal(("c", "o", "i", "r"), (invoke.ConnectionId, invoke.OwnerNodeId, invoke.InvocationId, invoke.OriginNodeId));

        byte[] left = [0x01, 0x0B, 0x04, 0x01, 0x6E, 0x01, 0x63, 0x01, 0x75, 0x01, 0x31, 0x00, 0x00, 0x00, 0x00];
        var presence = Assert.IsType<PresenceRow>(EnvelopeProtocol.Read(left));
        Assert.Equal(new PresenceConnection("c", "u", true), Assert.Single(presence.Connections));
    }

    [Fact]
    public void Read_ignores_fields_appended_by_later_versions()
    {
        var bytes = EnvelopeProtocol.Write(new SendRow(MessageKind.All));
        var extended = bytes.Concat(new byte[] { 0x05, 0xFF, 0xFF }).ToArray();

        var read = Assert.IsType<SendRow>(EnvelopeProtocol.Read(extended));

        Assert.Equal(MessageKind.All, read.Kind);
        Assert.Empty(read.Payloads);
    }

    [Fact]
    public void Read_rejects_an_unknown_version_with_its_own_error()
    {
        var bytes = EnvelopeProtocol.Write(new SendRow(MessageKind.All));
        bytes[0] = 3;

        var ex = Assert.Throws<EnvelopeFormatException>(() => EnvelopeProtocol.Read(bytes));

        Assert.Equal(EnvelopeFormatError.UnsupportedVersion, ex.Error);
        Assert.Contains("version 3", ex.Message);
    }

    [Theory]
    [MemberData(nameof(OneOfEachKind))]
    public void Read_rejects_every_truncation_of_a_valid_envelope(int index)
    {
        var bytes = EnvelopeProtocol.Write(Samples()[index]);

        for (var length = 0; length < bytes.Length; length++)
        {
            var ex = Assert.Throws<EnvelopeFormatException>(() => EnvelopeProtocol.Read(bytes.AsMemory(0, length)));
            Assert.Equal(EnvelopeFormatError.Corrupt, ex.Error);
        }
    }

    public static TheoryData<int> OneOfEachKind() => [.. Enumerable.Range(0, Samples().Length)];

    [Fact]
    public void Read_rejects_counts_larger_than_the_input_without_allocating_them()
    {
        // Version 2, kind All, then a target count of 2^28: far more strings than bytes left.
        byte[] bytes = [0x02, 0x01, 0x80, 0x80, 0x80, 0x80, 0x01];

        var ex = Assert.Throws<EnvelopeFormatException>(() => EnvelopeProtocol.Read(bytes));

        Assert.Equal(EnvelopeFormatError.Corrupt, ex.Error);
    }

    [Fact]
    public void Read_of_random_bytes_throws_nothing_but_its_format_exception()
    {
        var random = new Random(20261121);
        var valid = Samples().Select(s => EnvelopeProtocol.Write(s)).ToArray();

        for (var i = 0; i < 40_000; i++)
        {
            byte[] input;
            if (i % 2 == 0)
            {
                input = new byte[random.Next(0, 64)];
                random.NextBytes(input);
                if (input.Length > 0 && i % 4 == 0)
                {
                    input[0] = (byte)(1 + random.Next(2));
                }
            }
            else
            {
                // Mutate a valid envelope: most corruptions hit a length or a count.
                input = (byte[])valid[random.Next(valid.Length)].Clone();
                input[random.Next(input.Length)] = (byte)random.Next(256);
            }

            try
            {
                EnvelopeProtocol.Read(input);
            }
            catch (EnvelopeFormatException)
            {
            }
        }
    }

    private static Envelope RoundTrip(Envelope envelope) => EnvelopeProtocol.Read(EnvelopeProtocol.Write(envelope));

    private static Envelope[] Samples() =>
    [
        new SendRow(MessageKind.Connections) { Targets = ["a", "b"], Excluded = ["c"], Payloads = [Json] },
        new GroupChangeRow { Added = true, ConnectionId = "c", Group = "g" },
        new ClientInvocationRow { ConnectionId = "c", OwnerNodeId = "o", InvocationId = "i", OriginNodeId = "r", Payloads = [Json] },
        new ClientCompletionRow { OriginNodeId = "r", InvocationId = "i", Payloads = [Json] },
        new NodeGoneRow { NodeId = "n", ReapedBy = "r" },
        new NodeJoinedRow { NodeId = "n" },
        new PresenceRow { Joined = true, NodeId = "n", Connections = [new("c", "u", true)] },
        new AttachRow { ConnectionId = "n", Resumed = ["o", "p"], Groups = ["g"], ReplayAfter = 7, GapReason = null },
        new AttachRow { ConnectionId = "n", Resumed = ["o"], GapReason = "expired" },
    ];
}

using System.Text;
using SqliteBackplane.Internal.Messaging;
using Xunit;

namespace SqliteBackplane.Tests.Core;

public class EnvelopeProtocolTests
{
    [Fact]
    public void Write_produces_the_documented_bytes()
    {
        var envelope = new Envelope
        {
            Kind = MessageKind.Groups,
            Targets = ["g1"],
            Excluded = ["c"],
            InvocationId = null,
            ReplyNodeId = "n",
            Payloads = [new ProtocolPayload("json", new byte[] { 0x7B, 0x7D, 0x1E })],
        };

        var bytes = EnvelopeProtocol.Write(envelope);

        byte[] expected =
        [
            0x01,                   // version 1
            0x03,                   // kind: Groups
            0x01, 0x02, 0x67, 0x31, // 1 target: "g1"
            0x01, 0x01, 0x63,       // 1 excluded: "c"
            0x00,                   // invocation id: null
            0x02, 0x6E,             // reply node id: "n" (length + 1)
            0x01,                   // 1 payload
            0x04, 0x6A, 0x73, 0x6F, 0x6E, // protocol "json"
            0x03, 0x7B, 0x7D, 0x1E, // 3 bytes
        ];
        Assert.Equal(expected, bytes);
    }

    [Fact]
    public void Write_uses_multi_byte_varints_for_long_fields()
    {
        var longTarget = new string('a', 200);
        var bytes = EnvelopeProtocol.Write(new Envelope { Kind = MessageKind.Users, Targets = [longTarget] });

        // 200 = 0b1100_1000 -> LEB128 0xC8 0x01
        Assert.Equal([0x01, 0x04, 0x01, 0xC8, 0x01], bytes[..5]);
        Assert.Equal(longTarget, Assert.Single(EnvelopeProtocol.Read(bytes).Targets));
    }

    [Fact]
    public void Read_round_trips_every_field_including_unicode()
    {
        var envelope = new Envelope
        {
            Kind = MessageKind.ClientInvocation,
            Targets = ["connection-1", "node-\u00e9\u4e2d\U0001F600"],
            Excluded = ["x", ""],
            InvocationId = "inv-42",
            ReplyNodeId = "origin",
            Payloads = [new ProtocolPayload("json", Encoding.UTF8.GetBytes("{\"a\":1}")), new ProtocolPayload("newtonsoftjson", new byte[] { 1, 2, 3 })],
        };

        var read = EnvelopeProtocol.Read(EnvelopeProtocol.Write(envelope));

        Assert.Equal(envelope.Kind, read.Kind);
        Assert.Equal(envelope.Targets, read.Targets);
        Assert.Equal(envelope.Excluded, read.Excluded);
        Assert.Equal(envelope.InvocationId, read.InvocationId);
        Assert.Equal(envelope.ReplyNodeId, read.ReplyNodeId);
        Assert.Equal(2, read.Payloads.Count);
        Assert.Equal("newtonsoftjson", read.Payloads[1].ProtocolName);
        Assert.Equal(new byte[] { 1, 2, 3 }, read.Payloads[1].Bytes.ToArray());
    }

    [Fact]
    public void Read_ignores_fields_appended_by_later_versions()
    {
        var bytes = EnvelopeProtocol.Write(new Envelope { Kind = MessageKind.All });
        var extended = bytes.Concat(new byte[] { 0x05, 0xFF, 0xFF }).ToArray();

        var read = EnvelopeProtocol.Read(extended);

        Assert.Equal(MessageKind.All, read.Kind);
        Assert.Empty(read.Payloads);
    }

    [Fact]
    public void Read_rejects_an_unknown_version_with_its_own_error()
    {
        var bytes = EnvelopeProtocol.Write(new Envelope { Kind = MessageKind.All });
        bytes[0] = 2;

        var ex = Assert.Throws<EnvelopeFormatException>(() => EnvelopeProtocol.Read(bytes));

        Assert.Equal(EnvelopeFormatError.UnsupportedVersion, ex.Error);
        Assert.Contains("version 2", ex.Message);
    }

    [Fact]
    public void Read_rejects_every_truncation_of_a_valid_envelope()
    {
        var bytes = EnvelopeProtocol.Write(new Envelope
        {
            Kind = MessageKind.Connections,
            Targets = ["a", "b"],
            InvocationId = "i",
            Payloads = [new ProtocolPayload("json", new byte[] { 1, 2, 3, 4 })],
        });

        for (var length = 0; length < bytes.Length; length++)
        {
            var ex = Assert.Throws<EnvelopeFormatException>(() => EnvelopeProtocol.Read(bytes.AsMemory(0, length)));
            Assert.Equal(EnvelopeFormatError.Corrupt, ex.Error);
        }
    }

    [Fact]
    public void Read_rejects_counts_larger_than_the_input_without_allocating_them()
    {
        // Version 1, kind All, then a target count of 2^28: far more strings than bytes left.
        byte[] bytes = [0x01, 0x01, 0x80, 0x80, 0x80, 0x80, 0x01];

        var ex = Assert.Throws<EnvelopeFormatException>(() => EnvelopeProtocol.Read(bytes));

        Assert.Equal(EnvelopeFormatError.Corrupt, ex.Error);
    }

    [Fact]
    public void Read_of_random_bytes_throws_nothing_but_its_format_exception()
    {
        var random = new Random(20261121);
        var valid = EnvelopeProtocol.Write(new Envelope
        {
            Kind = MessageKind.Groups,
            Targets = ["group"],
            Excluded = ["c1"],
            Payloads = [new ProtocolPayload("json", new byte[] { 0x7B, 0x7D, 0x1E })],
        });

        for (var i = 0; i < 20_000; i++)
        {
            byte[] input;
            if (i % 2 == 0)
            {
                input = new byte[random.Next(0, 64)];
                random.NextBytes(input);
                if (input.Length > 0 && i % 4 == 0)
                {
                    input[0] = EnvelopeProtocol.CurrentVersion;
                }
            }
            else
            {
                // Mutate a valid envelope: most corruptions hit a length or a count.
                input = (byte[])valid.Clone();
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
}

using System.Text;
using Microsoft.AspNetCore.SignalR.Protocol;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Core;

public class EncryptionTests
{
    private const string OldKey = "old key: any length works";
    private const string NewKey = "a new, much longer key that rotates in without downtime 0123456789";

    [Fact]
    public async Task Nodes_with_different_key_lists_read_each_other_during_rotation()
    {
        using var database = new TempDatabase();
        // Mid-rotation: one node already encrypts with the new key, the other still with the old one.
        using var rotated = DirectManagers.Create(database, o => { o.EncryptionKeys.Add(NewKey); o.EncryptionKeys.Add(OldKey); });
        using var lagging = DirectManagers.Create(database, o => { o.EncryptionKeys.Add(OldKey); o.EncryptionKeys.Add(NewKey); });
        await using var onRotated = new FakeClient();
        await using var onLagging = new FakeClient();
        await rotated.OnConnectedAsync(onRotated.Connection).DefaultTimeout();
        await lagging.OnConnectedAsync(onLagging.Connection).DefaultTimeout();

        await rotated.SendConnectionAsync(onLagging.ConnectionId, ClientMethods.Receive, ["new-key message"]).DefaultTimeout();
        await lagging.SendConnectionAsync(onRotated.ConnectionId, ClientMethods.Receive, ["old-key message"]).DefaultTimeout();

        await onLagging.AssertReceivesAsync("new-key message");
        await onRotated.AssertReceivesAsync("old-key message");
    }

    [Fact]
    public async Task Payloads_are_not_readable_in_the_file_but_routing_ids_are()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database, o => o.EncryptionKeys.Add(NewKey));

        await manager.SendGroupAsync("room-42", ClientMethods.Receive, ["the launch code is 0000"]).DefaultTimeout();
        await manager.Node.Writes.WhenWrittenAsync().DefaultTimeout();

        var body = ReadLastBody(database);
        Assert.DoesNotContain("launch code", Encoding.UTF8.GetString(body));
        Assert.Contains("room-42", Encoding.UTF8.GetString(body));
    }

    [Fact]
    public async Task A_node_without_the_key_skips_and_counts_the_row_and_keeps_delivering()
    {
        using var database = new TempDatabase();
        using var encrypting = DirectManagers.Create(database, o => o.EncryptionKeys.Add(NewKey));
        using var otherKey = DirectManagers.Create(database, o => o.EncryptionKeys.Add("some other key"));
        await using var client = new FakeClient();
        await otherKey.OnConnectedAsync(client.Connection).DefaultTimeout();

        await encrypting.SendAllAsync(ClientMethods.Receive, ["unreadable here"]).DefaultTimeout();
        await encrypting.Node.Writes.WhenWrittenAsync().DefaultTimeout();
        await otherKey.SendAllAsync(ClientMethods.Receive, ["marker"]).DefaultTimeout();

        await client.AssertReceivesAsync("marker");
        Assert.Equal(1, otherKey.Node.Dispatcher.CorruptRowsSkipped);
    }

    [Theory]
    [InlineData("ciphertext")]
    [InlineData("routing")]
    public async Task Tampered_rows_are_rejected_and_the_rows_around_them_still_arrive(string tamperedPart)
    {
        using var database = new TempDatabase();
        using var sender = DirectManagers.Create(database, o => o.EncryptionKeys.Add(NewKey));
        using var receiver = DirectManagers.Create(database, o => o.EncryptionKeys.Add(NewKey));
        await using var client = new FakeClient();
        await receiver.OnConnectedAsync(client.Connection).DefaultTimeout();

        var protection = PayloadProtection.Create([NewKey])!;
        var body = EnvelopeProtocol.Write(new SendRow(MessageKind.Connections)
        {
            Targets = [client.ConnectionId],
            Payloads = [.. new TestProtocolResolver().AllProtocols.Select(p => new ProtocolPayload(p.Name, p.GetMessageBytes(new InvocationMessage(ClientMethods.Receive, ["forged"]))))],
        }, protection);
        if (tamperedPart == "ciphertext")
        {
            body[^1] ^= 0x01;
        }
        else
        {
            // The first target's first character: the routing data is bound to the ciphertext.
            body[4] ^= 0x01;
        }

        await sender.SendAllAsync(ClientMethods.Receive, ["before"]).DefaultTimeout();
        await sender.Node.Writes.WhenWrittenAsync().DefaultTimeout();
        InsertRawRow(database, body);
        await sender.SendAllAsync(ClientMethods.Receive, ["after"]).DefaultTimeout();

        await client.AssertReceivesAsync("before");
        await client.AssertReceivesAsync("after");
        Assert.Equal(1, receiver.Node.Dispatcher.CorruptRowsSkipped);
    }

    [Fact]
    public void Encrypted_envelope_round_trips_and_names_the_problem_without_keys()
    {
        var protection = PayloadProtection.Create([OldKey])!;
        var envelope = new SendRow(MessageKind.Users) { Targets = ["alice"], Payloads = [new ProtocolPayload("json", new byte[] { 1, 2, 3 })] };

        var body = EnvelopeProtocol.Write(envelope, protection);

        var read = EnvelopeProtocol.Read(body, PayloadProtection.Create([NewKey, OldKey]));
        Assert.Equal(new byte[] { 1, 2, 3 }, Assert.Single(Assert.IsType<SendRow>(read).Payloads).Bytes.ToArray());
        var noKeys = Assert.Throws<EnvelopeFormatException>(() => EnvelopeProtocol.Read(body));
        Assert.Equal(EnvelopeFormatError.Undecryptable, noKeys.Error);
        Assert.Contains("no SqliteBackplaneOptions.EncryptionKeys", noKeys.Message);
        var wrongKey = Assert.Throws<EnvelopeFormatException>(() => EnvelopeProtocol.Read(body, PayloadProtection.Create([NewKey])));
        Assert.Contains("No configured encryption key decrypts the payloads", wrongKey.Message);
    }

    [Fact]
    public void Empty_key_is_rejected_naming_its_index()
    {
        var options = new SqliteBackplaneOptions();
        options.EncryptionKeys.Add("fine");
        options.EncryptionKeys.Add("");

        var failure = Assert.Single(SqliteBackplane.Internal.Configuration.SqliteBackplaneOptionsValidator.Check(options));

        Assert.StartsWith("SqliteBackplaneOptions.EncryptionKeys[1] is empty.", failure);
    }

    private static byte[] ReadLastBody(TempDatabase database)
    {
        using var connection = RawSqlite.Open(database);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT body FROM signalr_messages ORDER BY id DESC LIMIT 1";
        return (byte[])command.ExecuteScalar()!;
    }

    private static void InsertRawRow(TempDatabase database, byte[] body) =>
        RawSqlite.Execute(database, "INSERT INTO signalr_messages (hub, kind, node_id, created_at, expires_at, body) VALUES ($hub, 2, 'test', 0, $expires, $body)",
            ("$hub", typeof(TestHub).FullName!), ("$expires", DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds()), ("$body", body));
}

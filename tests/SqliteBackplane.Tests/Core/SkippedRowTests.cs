using Microsoft.Data.Sqlite;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Core;

/// <summary>Rows a reader cannot use are skipped and counted, never fatal: expired rows, undecodable rows and kinds from a newer version; the cleanup deletes expired rows in batches.</summary>
public class SkippedRowTests
{
    [Fact]
    public async Task Reader_skips_and_counts_expired_rows_and_delivers_the_rest_in_order()
    {
        using var database = new TempDatabase();
        using var sender = DirectManagers.Create(database);
        using var receiver = DirectManagers.Create(database);
        await using var client = new FakeClient();
        await receiver.OnConnectedAsync(client.Connection).DefaultTimeout();

        await sender.SendAllAsync(ClientMethods.Receive, ["before"]).DefaultTimeout();
        await sender.Node.Writes.WhenWrittenAsync().DefaultTimeout();
        InsertRawRow(database, TestHubName, MessageKind.All, TestEnvelopes.Broadcast("expired"), expiresAtMs: 1);
        await sender.SendAllAsync(ClientMethods.Receive, ["after"]).DefaultTimeout();

        await client.AssertReceivesAsync("before");
        await client.AssertReceivesAsync("after");
        Assert.Equal(1, receiver.Node.Dispatcher.ExpiredRowsSkipped);
    }

    [Fact]
    public async Task Undecodable_rows_are_skipped_and_counted_while_good_rows_around_them_arrive_and_newer_kinds_are_skipped_silently()
    {
        using var database = new TempDatabase();
        using var sender = DirectManagers.Create(database);
        using var receiver = DirectManagers.Create(database);
        await using var client = new FakeClient();
        await receiver.OnConnectedAsync(client.Connection).DefaultTimeout();

        var future = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();
        await sender.SendAllAsync(ClientMethods.Receive, ["first"]).DefaultTimeout();
        await sender.Node.Writes.WhenWrittenAsync().DefaultTimeout();
        InsertRawRow(database, TestHubName, MessageKind.All, [0x01, 0x01, 0x05], future);
        var unknownVersion = TestEnvelopes.Broadcast("from the future");
        unknownVersion[0] = 9;
        InsertRawRow(database, TestHubName, MessageKind.All, unknownVersion, future);
        InsertRawRow(database, TestHubName, MessageKind.All, [], future);
        // Kinds of a later version, with bodies this version cannot read: skipped, but neither counted nor logged.
        InsertRawRow(database, TestHubName, (MessageKind)200, [0x01, 200, 0xFF], future);
        InsertRawRow(database, "", MessageKind.Attach + 1, [0x01, (byte)(MessageKind.Attach + 1)], future);
        await sender.SendAllAsync(ClientMethods.Receive, ["second"]).DefaultTimeout();

        await client.AssertReceivesAsync("first");
        await client.AssertReceivesAsync("second");
        Assert.Equal(3, receiver.Node.Dispatcher.CorruptRowsSkipped);
    }

    [Fact]
    public async Task Cleanup_deletes_expired_rows_in_batches_and_keeps_live_ones()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database);
        await manager.Node.EnsureStartedAsync().DefaultTimeout();
        using (var connection = RawSqlite.Open(database))
        {
            // One transaction: a commit per row would spend seconds in fsync.
            RawSqlite.Execute(connection, "BEGIN IMMEDIATE");
            var body = TestEnvelopes.Broadcast("old");
            for (var i = 0; i < 1_234; i++)
            {
                InsertRawRow(connection, TestHubName, MessageKind.All, body, expiresAtMs: 1);
            }

            RawSqlite.Execute(connection, "COMMIT");
        }

        await manager.SendAllAsync(ClientMethods.Receive, ["live"]).DefaultTimeout();

        await manager.Node.RunCleanupAsync().DefaultTimeout();

        // The live send is kept (and the node's live NodeJoined presence row).
        Assert.Equal(1L, RawSqlite.Scalar(database, $"SELECT count(*) FROM signalr_messages WHERE kind = {(int)MessageKind.All}"));
        Assert.Equal(0L, RawSqlite.Scalar(database, $"SELECT count(*) FROM signalr_messages WHERE expires_at < {DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}"));
    }

    private static readonly string TestHubName = typeof(TestHub).FullName!;

    private static void InsertRawRow(TempDatabase database, string hub, MessageKind kind, byte[] body, long expiresAtMs)
    {
        using var connection = RawSqlite.Open(database);
        InsertRawRow(connection, hub, kind, body, expiresAtMs);
    }

    private static void InsertRawRow(SqliteConnection connection, string hub, MessageKind kind, byte[] body, long expiresAtMs) =>
        RawSqlite.Execute(connection, "INSERT INTO signalr_messages (hub, kind, node_id, created_at, expires_at, body) VALUES ($hub, $kind, 'test', 0, $expires, $body)",
            ("$hub", hub), ("$kind", (int)kind), ("$expires", expiresAtMs), ("$body", body));
}

using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using SqliteBackplane.Tests.Infrastructure;
using Xunit;

namespace SqliteBackplane.Tests.Core;

/// <summary>The resume records behind a departed connection (docs/resume.md): kept for the window, then cleaned up.</summary>
public sealed class ResumeRecordTests
{
    [Fact]
    public async Task A_departed_connections_record_is_kept_for_the_resume_window_then_deleted_by_the_cleanup()
    {
        using var database = new TempDatabase();
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var manager = DirectManagers.Create(database, o =>
        {
            o.EnableResume = true;
            o.ResumeWindow = TimeSpan.FromSeconds(30);
            o.TimeProvider = clock;
        });
        await using var alice = new FakeClient("alice", query: "?sqlitebackplane-resume=1");
        await manager.OnConnectedAsync(alice.Connection).DefaultTimeout();
        // The fake client's binder knows only the test methods, so the token arrives as a binding failure; its target counts.
        var token = Assert.IsType<InvocationBindingFailureMessage>(await alice.ReadAsync());
        Assert.Equal("sqlitebackplane:token", token.Target);
        Assert.Equal((null, true), Record(database, alice.ConnectionId));

        await manager.OnDisconnectedAsync(alice.Connection).DefaultTimeout();
        Assert.Equal((clock.GetUtcNow().ToUnixTimeMilliseconds(), true), Record(database, alice.ConnectionId));

        clock.Advance(TimeSpan.FromSeconds(29));
        await manager.Node.RunCleanupAsync().DefaultTimeout();
        Assert.True(Record(database, alice.ConnectionId).Exists, "The record went before the window ended.");

        clock.Advance(TimeSpan.FromSeconds(2));
        await manager.Node.RunCleanupAsync().DefaultTimeout();
        Assert.False(Record(database, alice.ConnectionId).Exists, "The record outlived the window.");
    }

    private static (long? DepartedAt, bool Exists) Record(TempDatabase database, string connectionId)
    {
        using var connection = new SqliteConnection(database.ReadOnlyConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT departed_at FROM signalr_resumable WHERE connection_id = $id";
        command.Parameters.AddWithValue("$id", connectionId);
        using var reader = command.ExecuteReader();
        return reader.Read() ? (reader.IsDBNull(0) ? null : reader.GetInt64(0), true) : (null, false);
    }
}

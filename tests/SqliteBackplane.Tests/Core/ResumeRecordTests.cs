using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Core;

/// <summary>
/// Resume in one process, at the wire level (docs/resume.md): the order of replay, token and live messages, the
/// markers, the counter, and the records behind departed connections.
/// </summary>
public sealed class ResumeRecordTests
{
    [Fact]
    public async Task A_resume_sends_the_marked_replay_then_the_token_then_live_messages_and_counts_the_attempts()
    {
        using var database = new TempDatabase();
        await using var server = DirectManagers.Create(database, o => o.EnableResume = true);
        await using var sender = DirectManagers.Create(database, o => o.EnableResume = true);
        using var attempts = new AttemptCounter(server.Node.NodeId);
        await using var alice = new FakeClient("alice", query: "?sqlitebackplane-resume=1");
        await server.OnConnectedAsync(alice.Connection).DefaultTimeout();
        var (token, start) = ReadToken(await alice.ReadInvocationAsync());
        await server.AddToGroupAsync(alice.ConnectionId, "room").DefaultTimeout();

        await sender.SendGroupAsync("room", ClientMethods.Receive, ["one"]).DefaultTimeout();
        var one = ReadPosition(await alice.ReadInvocationAsync());
        Assert.True(one > start);
        await alice.AssertReceivesAsync("one");
        await server.OnDisconnectedAsync(alice.Connection).DefaultTimeout();

        // Missed: to the group (membership carried in the record), to the user, to All except alice, to the old id.
        await sender.SendGroupAsync("room", ClientMethods.Receive, ["two"]).DefaultTimeout();
        await sender.SendUserAsync("alice", ClientMethods.Receive, ["three"]).DefaultTimeout();
        await sender.SendAllExceptAsync(ClientMethods.Receive, ["not for alice"], [alice.ConnectionId]).DefaultTimeout();
        await sender.SendConnectionAsync(alice.ConnectionId, ClientMethods.Receive, ["four"]).DefaultTimeout();
        await sender.Node.Writes.WhenWrittenAsync().DefaultTimeout();

        await using var back = new FakeClient("alice", query: $"?sqlitebackplane-resume={token}.{one}");
        await server.OnConnectedAsync(back.Connection).DefaultTimeout();
        var positions = new List<long>();
        foreach (var expected in new[] { "two", "three", "four" })
        {
            positions.Add(ReadPosition(await back.ReadInvocationAsync()));
            await back.AssertReceivesAsync(expected);
        }

        var (newToken, attachedAt) = ReadToken(await back.ReadInvocationAsync());
        Assert.NotEqual(token, newToken);
        Assert.True(positions.SequenceEqual(positions.Order()) && positions[0] > one && attachedAt > positions[^1], $"Positions {string.Join(", ", positions)}, then {attachedAt}.");

        // Live after the token, marked, and the group came along.
        await sender.SendGroupAsync("room", ClientMethods.Receive, ["live"]).DefaultTimeout();
        Assert.True(ReadPosition(await back.ReadInvocationAsync()) > attachedAt);
        await back.AssertReceivesAsync("live");

        // The same ticket again: refused, and so is a forged one.
        await using var again = new FakeClient("alice", query: $"?sqlitebackplane-resume={token}.{one}");
        await server.OnConnectedAsync(again.Connection).DefaultTimeout();
        Assert.Equal("resumed", ReadGap(await again.ReadInvocationAsync()));
        await using var forged = new FakeClient("alice", query: "?sqlitebackplane-resume=forged.3");
        await server.OnConnectedAsync(forged.Connection).DefaultTimeout();
        Assert.Equal("token", ReadGap(await forged.ReadInvocationAsync()));
        Assert.Equal(["gap:resumed", "gap:token", "resumed"], attempts.Outcomes.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_client_whose_resumed_connection_dropped_before_its_token_resumes_again_with_its_old_token()
    {
        using var database = new TempDatabase();
        await using var server = DirectManagers.Create(database, o => o.EnableResume = true);
        await using var sender = DirectManagers.Create(database, o => o.EnableResume = true);
        await using var alice = new FakeClient("alice", query: "?sqlitebackplane-resume=1");
        await server.OnConnectedAsync(alice.Connection).DefaultTimeout();
        var (token, _) = ReadToken(await alice.ReadInvocationAsync());
        await server.AddToGroupAsync(alice.ConnectionId, "room").DefaultTimeout();
        await sender.SendGroupAsync("room", ClientMethods.Receive, ["one"]).DefaultTimeout();
        var one = ReadPosition(await alice.ReadInvocationAsync());
        await alice.AssertReceivesAsync("one");
        await server.OnDisconnectedAsync(alice.Connection).DefaultTimeout();
        await sender.SendGroupAsync("room", ClientMethods.Receive, ["two"]).DefaultTimeout();
        await sender.SendUserAsync("alice", ClientMethods.Receive, ["three"]).DefaultTimeout();
        await sender.Node.Writes.WhenWrittenAsync().DefaultTimeout();

        // The first resume replays "two" and "three"; its client takes in "two" only, never sees the token, and drops.
        await using var first = new FakeClient("alice", query: $"?sqlitebackplane-resume={token}.{one}");
        await server.OnConnectedAsync(first.Connection).DefaultTimeout();
        var two = ReadPosition(await first.ReadInvocationAsync());
        await first.AssertReceivesAsync("two");
        // Sent to the first resume's own id and to the group after its attach row: the client never received them either.
        await sender.SendConnectionAsync(first.ConnectionId, ClientMethods.Receive, ["four"]).DefaultTimeout();
        await sender.SendGroupAsync("room", ClientMethods.Receive, ["five"]).DefaultTimeout();
        await sender.SendAllExceptAsync(ClientMethods.Receive, ["not for the first resume"], [first.ConnectionId]).DefaultTimeout();
        await sender.Node.Writes.WhenWrittenAsync().DefaultTimeout();
        await server.OnDisconnectedAsync(first.Connection).DefaultTimeout();
        await sender.SendGroupAsync("room", ClientMethods.Receive, ["six"]).DefaultTimeout();
        await sender.Node.Writes.WhenWrittenAsync().DefaultTimeout();

        // The client presents its old token with the position it committed ("two"): the chain resumes, no gap.
        await using var second = new FakeClient("alice", query: $"?sqlitebackplane-resume={token}.{two}");
        await server.OnConnectedAsync(second.Connection).DefaultTimeout();
        foreach (var expected in new[] { "three", "four", "five", "six" })
        {
            var message = await second.ReadInvocationAsync();
            Assert.True(message.Target == "sqlitebackplane:pos", $"Expected the marker of '{expected}', received {message.Target}({string.Join(", ", message.Arguments)}).");
            await second.AssertReceivesAsync(expected);
        }

        ReadToken(await second.ReadInvocationAsync());
        await sender.SendGroupAsync("room", ClientMethods.Receive, ["live"]).DefaultTimeout();
        ReadPosition(await second.ReadInvocationAsync());
        await second.AssertReceivesAsync("live");
    }

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
        Assert.Equal("sqlitebackplane:token", (await alice.ReadInvocationAsync()).Target);
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

    [Fact]
    public async Task A_resume_client_that_falls_behind_is_closed_rather_than_losing_messages_silently_and_told_of_the_gap_on_resume()
    {
        using var database = new TempDatabase();
        await using var server = DirectManagers.Create(database, o =>
        {
            o.EnableResume = true;
            o.MaxPendingMessagesPerConnection = 20;
        });
        await using var reading = new FakeClient();
        await using var stalled = new FakeClient("alice", query: "?sqlitebackplane-resume=1");
        await server.OnConnectedAsync(reading.Connection).DefaultTimeout();
        await server.OnConnectedAsync(stalled.Connection).DefaultTimeout();
        var (token, start) = ReadToken(await stalled.ReadInvocationAsync());
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var onClosed = stalled.Connection.ConnectionAborted.Register(() => closed.TrySetResult());
        var padding = new string('p', 8_000);

        // In step with the reading client, so only alice (who reads nothing) falls behind, until she is closed.
        var sent = 0;
        while (!closed.Task.IsCompleted && sent < 2_000)
        {
            await server.SendAllAsync(ClientMethods.Receive, [$"{sent:D4}{padding}"]).DefaultTimeout();
            await reading.AssertReceivesAsync($"{sent:D4}{padding}");
            sent++;
        }

        await closed.Task.DefaultTimeout("the resume connection that stopped reading to be closed");
        Assert.Equal(0, server.DroppedMessages);

        // Her client resumes from the last message it received (none): what it missed is beyond the per-connection
        // cap, so it hears "overflow" instead of finding a hole later.
        await server.OnDisconnectedAsync(stalled.Connection).DefaultTimeout();
        await using var back = new FakeClient("alice", query: $"?sqlitebackplane-resume={token}.{start}");
        await server.OnConnectedAsync(back.Connection).DefaultTimeout();
        Assert.Equal("overflow", ReadGap(await back.ReadInvocationAsync()));
    }

    [Fact]
    public async Task A_replay_the_client_has_not_read_yet_does_not_hold_senders_back_but_what_arrives_after_it_does()
    {
        using var database = new TempDatabase();
        // Pacing starts at a twentieth of the bound: 5 writes waiting for one connection.
        await using var server = DirectManagers.Create(database, o =>
        {
            o.EnableResume = true;
            o.MaxPendingMessagesPerConnection = 100;
        });
        await using var sender = DirectManagers.Create(database, o => o.EnableResume = true);
        using var attempts = new AttemptCounter(server.Node.NodeId);
        await using var alice = new FakeClient("alice", query: "?sqlitebackplane-resume=1");
        await server.OnConnectedAsync(alice.Connection).DefaultTimeout();
        var (token, start) = ReadToken(await alice.ReadInvocationAsync());
        await server.OnDisconnectedAsync(alice.Connection).DefaultTimeout();

        // 40 messages she missed, large enough that the replay's writes wait for her to read (the pipe fills).
        var padding = new string('p', 8_000);
        for (var i = 0; i < 40; i++)
        {
            await sender.SendAllAsync(ClientMethods.Receive, [$"{i:D4}{padding}"]).DefaultTimeout();
        }

        await sender.Node.Writes.WhenWrittenAsync().DefaultTimeout();
        await using var back = new FakeClient("alice", query: $"?sqlitebackplane-resume={token}.{start}");
        await server.OnConnectedAsync(back.Connection).DefaultTimeout();
        await Eventually.BecomesTrueAsync(() => attempts.Outcomes.Contains("resumed"), TaskTimeoutExtensions.DefaultTimeoutValue, "the replay to be written");

        // Dozens of replayed messages wait for her, but a replay is bounded and already in the log: no sender waits for it.
        Assert.False(server.Node.Admission.Connections.Any, "The unread replay holds senders back.");

        // Live messages behind the replay count as usual: she is behind on those, so senders are paced again (or, once
        // she has read nothing for a second, she counts as stalled, which only a pacing connection can).
        var stallsBefore = server.Node.Admission.Connections.Stalls;
        for (var i = 0; i < 10; i++)
        {
            await sender.SendAllAsync(ClientMethods.Receive, [$"live{i:D4}{padding}"]).DefaultTimeout();
        }

        await Eventually.BecomesTrueAsync(() => server.Node.Admission.Connections.Any || server.Node.Admission.Connections.Stalls > stallsBefore, TaskTimeoutExtensions.DefaultTimeoutValue,
            "the live messages waiting behind the replay to hold senders back");

        // Everything arrives once, in order: the replay, the token, then the live messages.
        for (var i = 0; i < 40; i++)
        {
            ReadPosition(await back.ReadInvocationAsync());
            await back.AssertReceivesAsync($"{i:D4}{padding}");
        }

        ReadToken(await back.ReadInvocationAsync());
        for (var i = 0; i < 10; i++)
        {
            ReadPosition(await back.ReadInvocationAsync());
            await back.AssertReceivesAsync($"live{i:D4}{padding}");
        }
    }

    private static (string Token, long Position) ReadToken(InvocationMessage message)
    {
        Assert.Equal("sqlitebackplane:token", message.Target);
        return ((string)message.Arguments[0]!, (long)message.Arguments[1]!);
    }

    private static long ReadPosition(InvocationMessage message)
    {
        Assert.True(message.Target == "sqlitebackplane:pos", $"Expected a position marker, received {message.Target}.");
        return (long)message.Arguments[0]!;
    }

    private static string ReadGap(InvocationMessage message)
    {
        Assert.Equal("sqlitebackplane:gap", message.Target);
        return (string)message.Arguments[0]!;
    }

    /// <summary>Records the outcomes of <c>sqlitebackplane.resume.attempts</c> ("resumed" or "gap:reason").</summary>
    private sealed class AttemptCounter : IDisposable
    {
        private readonly System.Diagnostics.Metrics.MeterListener _listener = new();
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _outcomes = new();

        public AttemptCounter(string nodeId)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == SqliteBackplaneOptions.MeterName && instrument.Name == "sqlitebackplane.resume.attempts" &&
                    instrument.Meter.Tags?.FirstOrDefault(t => t.Key == "sqlitebackplane.node.id").Value as string == nodeId)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
            {
                string? outcome = null, reason = null;
                foreach (var tag in tags)
                {
                    outcome = tag.Key == "outcome" ? tag.Value as string : outcome;
                    reason = tag.Key == "reason" ? tag.Value as string : reason;
                }

                _outcomes.Enqueue(reason is null ? outcome ?? "" : $"{outcome}:{reason}");
            });
            _listener.Start();
        }

        public IEnumerable<string> Outcomes => _outcomes;

        public void Dispose() => _listener.Dispose();
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

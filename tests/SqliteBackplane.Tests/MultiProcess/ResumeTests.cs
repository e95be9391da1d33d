using System.Threading.Channels;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Data.Sqlite;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.MultiProcess;

/// <summary>
/// Resume (docs/resume.md) with real server processes and the official .NET client with the
/// <c>WithSqliteBackplaneResume</c> helper: a sender streams numbered messages to a group, to All and to the receiver's
/// user while the receiver's transport drops or its server stops or dies; the receiver reconnects to the OTHER process
/// and must end with every number exactly once, in order, without a gap report.
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
public sealed class ResumeTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    private TestServerSettings Settings => new() { DatabasePath = Database.Path, EnableResume = true };

    public enum Failure
    {
        TransportDrop,
        TransportDropBackToTheSameServer,
        GracefulStop,
        Kill,
        KillThenReap,
    }

    [Theory]
    [InlineData(Failure.TransportDrop, HubProtocolKind.Json)]
    [InlineData(Failure.TransportDrop, HubProtocolKind.MessagePack)]
    [InlineData(Failure.TransportDropBackToTheSameServer, HubProtocolKind.Json)]
    [InlineData(Failure.GracefulStop, HubProtocolKind.Json)]
    [InlineData(Failure.Kill, HubProtocolKind.Json)]
    [InlineData(Failure.KillThenReap, HubProtocolKind.Json)]
    public async Task A_client_that_reconnects_to_the_other_process_receives_every_message_exactly_once_in_order(Failure failure, HubProtocolKind protocol)
    {
        var first = await StartAsync(Settings, "server A");
        var second = await StartAsync(Settings, "server B");
        var alice = await ConnectResumingAsync(first, "alice", protocol);
        var bob = await ConnectAsync(second, "bob");
        var oldId = alice.Client.ConnectionId;
        var group = $"room-{Guid.NewGuid():N}";
        await bob.InvokeAsync(nameof(TestHub.AddToGroup), oldId, group);

        var expected = new List<string>();
        await StreamAsync(bob, group, 0, 10, expected);
        Assert.Equal(expected, await alice.Client.ReceiveAsync(expected.Count));

        // The reconnect is held until the sender has sent on while alice had no server; then it goes to server B.
        var next = failure == Failure.TransportDropBackToTheSameServer ? first : second;
        alice.Network.HoldConnects();
        alice.Network.RouteTo(next.Address);
        switch (failure)
        {
            case Failure.TransportDrop or Failure.TransportDropBackToTheSameServer:
                alice.Network.DropAll();
                await StreamAsync(bob, group, 10, 30, expected);
                break;
            case Failure.GracefulStop:
                // A stopping server may close the connection without allowing a reconnect: then the app restarts it.
                alice.Client.Connection.Closed += _ => alice.Client.Connection.StartAsync();
                var stopping = first.StopAsync();
                await StreamAsync(bob, group, 10, 30, expected);
                await stopping;
                break;
            case Failure.Kill:
                // The reconnect usually comes before server B reaps server A: it takes the old connection over.
                var killing = first.KillAsync();
                await StreamAsync(bob, group, 10, 30, expected);
                await killing;
                break;
            case Failure.KillThenReap:
                // The reconnect comes after server B reaped server A, which recorded alice's departure for her.
                await first.KillAsync();
                await StreamAsync(bob, group, 10, 30, expected);
                await Eventually.BecomesTrueAsync(() => DepartedAt(oldId) is not null, TimeSpan.FromSeconds(15), "server B to reap server A and record alice's departure");
                break;
        }

        alice.Network.ReleaseConnects();
        await StreamAsync(bob, group, 40, 10, expected);

        var afterFailure = expected.Skip(10).ToList();
        Assert.Equal(afterFailure, await alice.Client.ReceiveAsync(afterFailure.Count));
        Assert.NotEqual(oldId, await alice.Client.RefreshConnectionIdAsync());
        Assert.False(alice.Gaps.Reader.TryRead(out var gap), $"The resume reported a gap ({gap}).");
        Assert.Equal(2, alice.Network.Connections);
        // The group membership carried over to the new connection: a live send to the group reaches it.
        await bob.InvokeAsync(nameof(TestHub.SendGroup), group, "live to the group");
        await alice.Client.AssertReceivesAsync("live to the group");
        await TestClient.AssertNoMoreMessagesAsync(bob, alice.Client);
        Output.WriteLine($"alice received all {expected.Count} messages once, in order, over {failure}: connection {oldId} on {first.Name}, then {alice.Client.ConnectionId} on {next.Name}.");
    }

    /// <summary>
    /// How long after the reconnect's WebSocket is up its transport drops again; -1: at the fifth replayed message.
    /// One round here; 20 rounds per case with <c>SQLITEBACKPLANE_SOAK=long</c> (issue 17's target), each counted.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(10)]
    [InlineData(25)]
    [InlineData(50)]
    [InlineData(-1)]
    public async Task A_reconnect_that_drops_again_before_its_token_arrived_resumes_again_without_a_gap(int secondDropAfterMs)
    {
        var rounds = Environment.GetEnvironmentVariable("SQLITEBACKPLANE_SOAK") == "long" ? 20 : 1;
        var first = await StartAsync(Settings, "server A");
        var second = await StartAsync(Settings, "server B");
        var bob = await ConnectAsync(second, "bob");
        var results = new List<DoubleDropRound>();
        for (var round = 0; round < rounds; round++)
        {
            var result = await DoubleDropRoundAsync(first, second, bob, secondDropAfterMs, $"alice{round}");
            results.Add(result);
            Output.WriteLine($"round {round + 1}: {result}");
        }

        var failed = results.Count(r => !r.Clean);
        Output.WriteLine($"double drop at {(secondDropAfterMs < 0 ? "the fifth replayed message" : $"{secondDropAfterMs} ms")}: {rounds} rounds, " +
            $"{failed} with a problem; gaps {results.Sum(r => r.Gaps.Count)}, lost {results.Sum(r => r.Lost)}, duplicated {results.Sum(r => r.Duplicated)}, " +
            $"out of order {results.Count(r => r.OutOfOrder)}; transports per round {results.Min(r => r.Transports)}-{results.Max(r => r.Transports)}.");
        Assert.True(failed == 0, $"{failed} of {rounds} rounds lost, duplicated, reordered or reported a gap:{Environment.NewLine}{string.Join(Environment.NewLine, results.Where(r => !r.Clean))}");
    }

    /// <summary>What one double-drop round delivered to its resuming client.</summary>
    private sealed record DoubleDropRound(string User, int Expected, int Lost, int Duplicated, bool OutOfOrder, IReadOnlyList<string> Gaps, int Transports)
    {
        public bool Clean => Lost == 0 && Duplicated == 0 && !OutOfOrder && Gaps.Count == 0;

        public override string ToString() =>
            $"{User}: expected {Expected}, lost {Lost}, duplicated {Duplicated}, {(OutOfOrder ? "out of order" : "in order")}, gaps [{string.Join(", ", Gaps)}], {Transports} transports";
    }

    private async Task<DoubleDropRound> DoubleDropRoundAsync(ServerProcess first, ServerProcess second, TestClient bob, int secondDropAfterMs, string user)
    {
        var alice = await ConnectResumingAsync(first, user);
        var group = $"room-{Guid.NewGuid():N}";
        await bob.InvokeAsync(nameof(TestHub.AddToGroup), alice.Client.ConnectionId, group);
        var expected = new List<string>();
        await StreamAsync(bob, group, 0, 10, expected, user);
        Assert.Equal(expected, await alice.Client.ReceiveAsync(expected.Count));

        // The first drop: the reconnect, to server B, is held while 40 messages are sent, so it has a replay to do.
        alice.Network.HoldConnects();
        alice.Network.RouteTo(second.Address);
        alice.Network.DropAll();
        await StreamAsync(bob, group, 10, 40, expected, user);

        // The second drop hits the reconnect while it attaches or replays; the next reconnect goes back to server A.
        var secondDrop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void DropAgain()
        {
            if (secondDrop.TrySetResult())
            {
                alice.Network.RouteTo(first.Address);
                alice.Network.DropAll();
            }
        }

        if (secondDropAfterMs >= 0)
        {
            alice.Network.Connected = async count =>
            {
                if (count == 2)
                {
                    await Task.Delay(secondDropAfterMs);
                    DropAgain();
                }
            };
        }
        else
        {
            var replayed = 0;
            alice.Client.Connection.On<long>("sqlitebackplane:pos", _ =>
            {
                if (alice.Network.Connections == 2 && Interlocked.Increment(ref replayed) == 5)
                {
                    DropAgain();
                }

                return Task.CompletedTask;
            });
        }

        alice.Network.ReleaseConnects();
        await secondDrop.Task.DefaultTimeout("the reconnect's transport to drop again");
        await StreamAsync(bob, group, 50, 10, expected, user);

        // Counted rather than asserted at the first difference, so a long run reports every round.
        var afterFailure = expected.Skip(10).ToList();
        var received = new List<string>();
        try
        {
            while (received.Count < afterFailure.Count)
            {
                received.Add(await alice.Client.ReceiveAsync());
            }
        }
        catch (TimeoutException)
        {
            // Fewer arrived: counted as lost below.
        }
        var gaps = new List<string>();
        while (alice.Gaps.Reader.TryRead(out var gap))
        {
            gaps.Add(gap);
        }
        var result = new DoubleDropRound(user, afterFailure.Count, afterFailure.Except(received).Count(),
            // A message twice, or one from before the drops again: both are duplicates.
            received.Count - received.Intersect(afterFailure).Count(),
            !afterFailure.Intersect(received).SequenceEqual(received.Intersect(afterFailure)), gaps, alice.Network.Connections);
        if (result.Clean)
        {
            Assert.True(alice.Network.Connections >= 3, $"Expected at least three transports, saw {alice.Network.Connections}.");
            await alice.Client.RefreshConnectionIdAsync();
            await bob.InvokeAsync(nameof(TestHub.SendGroup), group, "live to the group");
            await alice.Client.AssertReceivesAsync("live to the group");
            await TestClient.AssertNoMoreMessagesAsync(bob, alice.Client);
        }
        await alice.Client.DisposeAsync();
        return result;
    }

    [Fact]
    public async Task The_helper_works_with_stateful_reconnect_which_counts_the_markers()
    {
        var first = await StartAsync(Settings, "server A");
        var second = await StartAsync(Settings, "server B");
        var alice = await ConnectResumingAsync(first, "alice", statefulReconnect: true);
        var bob = await ConnectAsync(second, "bob");
        var group = $"room-{Guid.NewGuid():N}";
        await bob.InvokeAsync(nameof(TestHub.AddToGroup), alice.Client.ConnectionId, group);
        var expected = new List<string>();
        await StreamAsync(bob, group, 0, 10, expected);
        Assert.Equal(expected, await alice.Client.ReceiveAsync(expected.Count));

        // SignalR's stateful reconnect resumes the same connection on the same server from its buffer, in which the
        // server counted every marker: a client that did not count them would ack too few and get duplicates.
        alice.Network.HoldConnects();
        alice.Network.DropAll();
        await StreamAsync(bob, group, 10, 20, expected);
        alice.Network.ReleaseConnects();
        await StreamAsync(bob, group, 30, 10, expected);

        var afterDrop = expected.Skip(10).ToList();
        Assert.Equal(afterDrop, await alice.Client.ReceiveAsync(afterDrop.Count));
        await TestClient.AssertNoMoreMessagesAsync(bob, alice.Client);
        Assert.False(alice.Gaps.Reader.TryRead(out var gap), $"A gap was reported ({gap}).");
        Assert.Equal(2, alice.Network.Connections);
    }

    [Fact]
    public async Task A_reconnect_after_the_resume_window_reports_the_gap_and_starts_fresh()
    {
        var settings = Settings with { ResumeWindow = TimeSpan.FromSeconds(1) };
        var first = await StartAsync(settings, "server A");
        var second = await StartAsync(settings, "server B");
        var alice = await ConnectResumingAsync(first, "alice");
        var bob = await ConnectAsync(second, "bob");
        var oldId = alice.Client.ConnectionId;

        alice.Network.HoldConnects();
        alice.Network.RouteTo(second.Address);
        alice.Network.DropAll();
        await bob.InvokeAsync(nameof(TestHub.SendUser), "alice", "lost");
        await Eventually.BecomesTrueAsync(() => DepartedAt(oldId) is not null, TaskTimeoutExtensions.DefaultTimeoutValue, "server A to record alice's departure");
        // The point of the test: the window (1 s) must pass before the reconnect.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        alice.Network.ReleaseConnects();

        Assert.Equal("expired", await alice.Gaps.Reader.ReadAsync().AsTask().DefaultTimeout("the gap report"));
        // Event 51 names the connection the client asked to resume.
        await Eventually.BecomesTrueAsync(() => second.Output.Contains($"asked to resume connection {oldId}, which is impossible (expired)", StringComparison.Ordinal),
            TaskTimeoutExtensions.DefaultTimeoutValue, "server B to log the gap with the old connection's id");
        await alice.Client.RefreshConnectionIdAsync();
        await bob.InvokeAsync(nameof(TestHub.SendUser), "alice", "after");
        await alice.Client.AssertReceivesAsync("after");
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("overflow")]
    public async Task A_reconnect_whose_missed_messages_left_the_log_or_exceed_the_cap_reports_the_gap(string reason)
    {
        // truncated: the log keeps at most 100 rows, so 150 sends drop the ones alice missed first.
        // overflow: server B replays at most 20 messages, and alice missed 150.
        var settings = reason == "truncated" ? Settings with { MaxLogRows = 100 } : Settings with { MaxPendingMessagesPerConnection = 20 };
        var first = await StartAsync(settings, "server A");
        var second = await StartAsync(settings, "server B");
        var alice = await ConnectResumingAsync(first, "alice");
        var bob = await ConnectAsync(second, "bob");
        await bob.InvokeAsync(nameof(TestHub.SendUser), "alice", "before");
        await alice.Client.AssertReceivesAsync("before");

        alice.Network.HoldConnects();
        alice.Network.RouteTo(second.Address);
        alice.Network.DropAll();
        for (var n = 0; n < 150; n++)
        {
            await bob.InvokeAsync(nameof(TestHub.SendUser), "alice", $"missed {n}");
        }

        alice.Network.ReleaseConnects();
        Assert.Equal(reason, await alice.Gaps.Reader.ReadAsync().AsTask().DefaultTimeout("the gap report"));
        await alice.Client.RefreshConnectionIdAsync();
        await bob.InvokeAsync(nameof(TestHub.SendUser), "alice", "after");
        await alice.Client.AssertReceivesAsync("after");
    }

    [Fact]
    public async Task A_forged_token_and_another_users_token_are_refused_with_a_gap()
    {
        var server = await StartAsync(Settings, "server");
        var forged = await ConnectRawAsync(server, "mallory", "AAAA~1~AAAA.5");
        Assert.Equal("token", await forged.Gap.Task.DefaultTimeout("the forged token's gap"));
        var (token, position) = await forged.Token.Task.DefaultTimeout("a fresh token after the gap");
        Assert.True(position > 0);

        // alice's genuine token, presented by mallory after alice left.
        var alice = await ConnectRawAsync(server, "alice", "1");
        var (aliceToken, alicePosition) = await alice.Token.Task.DefaultTimeout("alice's token");
        var aliceId = await alice.Connection.InvokeAsync<string>(nameof(TestHub.GetConnectionId)).DefaultTimeout();
        await alice.Connection.DisposeAsync();
        await Eventually.BecomesTrueAsync(() => DepartedAt(aliceId) is not null, TaskTimeoutExtensions.DefaultTimeoutValue, "alice's departure to be recorded");
        var thief = await ConnectRawAsync(server, "mallory", $"{aliceToken}.{alicePosition}");
        Assert.Equal("user", await thief.Gap.Task.DefaultTimeout("the foreign token's gap"));
        Assert.NotEqual(token, (await thief.Token.Task.DefaultTimeout()).Token);

        // The genuine owner can still resume it once: the refusals did not consume the record.
        var owner = await ConnectRawAsync(server, "alice", $"{aliceToken}.{alicePosition}");
        await owner.Token.Task.DefaultTimeout("the owner's resume");
        Assert.False(owner.Gap.Task.IsCompleted, "The owner's resume reported a gap.");
        var again = await ConnectRawAsync(server, "alice", $"{aliceToken}.{alicePosition}");
        Assert.Equal("resumed", await again.Gap.Task.DefaultTimeout("the second resume's gap"));
    }

    [Fact]
    public async Task A_client_without_the_helper_receives_no_reserved_messages_on_a_resume_enabled_server()
    {
        var first = await StartAsync(Settings, "server A");
        var second = await StartAsync(Settings, "server B");
        var plain = await ConnectAsync(first, "plain");
        var reserved = 0;
        foreach (var (method, parameters) in new[] { ("sqlitebackplane:pos", new[] { typeof(long) }), ("sqlitebackplane:token", [typeof(string), typeof(long)]), ("sqlitebackplane:gap", [typeof(string)]) })
        {
            plain.Connection.On(method, parameters, _ =>
            {
                Interlocked.Increment(ref reserved);
                return Task.CompletedTask;
            });
        }

        var bob = await ConnectAsync(second, "bob");
        await bob.InvokeAsync(nameof(TestHub.AddToGroup), plain.ConnectionId, "room");
        await bob.InvokeAsync(nameof(TestHub.SendGroup), "room", "one");
        await bob.InvokeAsync(nameof(TestHub.SendUser), "plain", "two");
        await plain.InvokeAsync(nameof(TestHub.SendConnection), plain.ConnectionId, "three");
        // Two senders on two servers: a send returns once queued, so only the set is certain.
        Assert.Equal(["one", "three", "two"], (await plain.ReceiveAsync(3)).Order(StringComparer.Ordinal));
        await TestClient.AssertNoMoreMessagesAsync(bob, plain);
        Assert.Equal(0, Volatile.Read(ref reserved));
    }

    private sealed record ResumingClient(TestClient Client, DroppableNetwork Network, Channel<string> Gaps);

    private async Task<ResumingClient> ConnectResumingAsync(ServerProcess server, string user, HubProtocolKind protocol = HubProtocolKind.Json, bool statefulReconnect = false)
    {
        var network = new DroppableNetwork();
        var gaps = Channel.CreateUnbounded<string>();
        var client = DisposeAfterTest(await TestClient.ConnectAsync(
            new UriBuilder(server.Address) { Path = HubPaths.Test }.Uri, user, protocol, HttpTransportType.WebSockets, $"{user} (resuming) on {server.Name}",
            options =>
            {
                network.Configure(options);
                // The WebSocket request is then the only one, so the network can send it to another server. (Stateful
                // reconnect needs the negotiation; it goes back to the same server.)
                options.SkipNegotiation = !statefulReconnect;
            },
            statefulReconnect: statefulReconnect,
            configureBuilder: builder => builder
                .WithAutomaticReconnect(new RetryEvery100Milliseconds())
                .WithSqliteBackplaneResume(options => options.OnGap = reason => gaps.Writer.TryWrite(reason))));
        return new ResumingClient(client, network, gaps);
    }

    private sealed record RawClient(HubConnection Connection, TaskCompletionSource<string> Gap, TaskCompletionSource<(string Token, long Position)> Token);

    /// <summary>A client without the helper that sends the resume parameter itself and records the reserved messages.</summary>
    private async Task<RawClient> ConnectRawAsync(ServerProcess server, string user, string ticket)
    {
        var uri = new UriBuilder(server.Address) { Path = HubPaths.Test, Query = $"user={user}&sqlitebackplane-resume={Uri.EscapeDataString(ticket)}" }.Uri;
        var connection = new HubConnectionBuilder().WithUrl(uri).Build();
        var raw = new RawClient(connection, new(TaskCreationOptions.RunContinuationsAsynchronously), new(TaskCreationOptions.RunContinuationsAsynchronously));
        connection.On<string>("sqlitebackplane:gap", reason => raw.Gap.TrySetResult(reason));
        connection.On<string, long>("sqlitebackplane:token", (token, position) => raw.Token.TrySetResult((token, position)));
        DisposeAfterTest(connection);
        await connection.StartAsync().DefaultTimeout($"{user} to connect");
        return raw;
    }

    private static async Task StreamAsync(TestClient sender, string group, int from, int count, List<string> expected, string user = "alice")
    {
        for (var n = from; n < from + count; n++)
        {
            var message = $"m{n}";
            await ((n % 3) switch
            {
                0 => sender.InvokeAsync(nameof(TestHub.SendGroup), group, message),
                1 => sender.InvokeAsync(nameof(TestHub.SendAll), message),
                _ => sender.InvokeAsync(nameof(TestHub.SendUser), user, message),
            });
            expected.Add(message);
        }
    }

    private long? DepartedAt(string connectionId)
    {
        using var connection = new SqliteConnection(Database.ReadOnlyConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT departed_at FROM \"{SqliteBackplaneOptions.DefaultTablePrefix}resumable\" WHERE connection_id = $id";
        command.Parameters.AddWithValue("$id", connectionId);
        return command.ExecuteScalar() is long departed ? departed : null;
    }

    private sealed class RetryEvery100Milliseconds : IRetryPolicy
    {
        public TimeSpan? NextRetryDelay(RetryContext retryContext) => TimeSpan.FromMilliseconds(100);
    }
}

using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;
using Kind = SqliteBackplane.SqliteBackplanePresenceChangeKind;

namespace SqliteBackplane.Tests.MultiProcess;

/// <summary>
/// Pushed presence changes (<see cref="ISqliteBackplanePresence{THub}.OnPresenceChanged"/>): connections and users that
/// join or leave on a server process reach subscribers on other nodes in one order, and a killed process's users
/// leave and its node is reported reaped.
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
public sealed class PresenceChangeTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    private static readonly string Hub = typeof(TestHub).FullName!;

    /// <summary>What issue 13 promises for a crash on Linux and macOS, against a 30 s node timeout.</summary>
    private static readonly TimeSpan FastDetection = TimeSpan.FromSeconds(5);

    private TestServerSettings Settings => new()
    {
        DatabasePath = Database.Path,
        HeartbeatInterval = TimeSpan.FromSeconds(2),
        NodeTimeout = TimeSpan.FromSeconds(30),
    };

    [Fact]
    public async Task Subscribers_on_two_nodes_see_another_processes_connections_and_users_in_the_same_order()
    {
        var first = await ObserveAsync("observer 1");
        var second = await ObserveAsync("observer 2");
        var server = await StartAsync(Settings, "server");
        var serverNode = await first.Recorder.NodeOfProcessAsync(first.Server, server.ProcessId);

        // Each step waits until observed: a connection registers after its handshake, so two in flight could swap.
        var alice = await server.ConnectAsync("alice");
        await first.Recorder.SeenAsync(Kind.ConnectionJoined, alice.ConnectionId);
        var aliceAgain = await server.ConnectAsync("alice");
        await first.Recorder.SeenAsync(Kind.ConnectionJoined, aliceAgain.ConnectionId);
        await alice.DisposeAsync();
        await first.Recorder.SeenAsync(Kind.ConnectionLeft, alice.ConnectionId);
        await aliceAgain.DisposeAsync();

        SqliteBackplanePresenceChange[] expected =
        [
            new(Kind.NodeJoined, Hub, serverNode, null, null),
            new(Kind.ConnectionJoined, Hub, serverNode, alice.ConnectionId, "alice"),
            new(Kind.UserJoined, Hub, serverNode, alice.ConnectionId, "alice"),
            new(Kind.ConnectionJoined, Hub, serverNode, aliceAgain.ConnectionId, "alice"),
            new(Kind.ConnectionLeft, Hub, serverNode, alice.ConnectionId, "alice"),
            new(Kind.ConnectionLeft, Hub, serverNode, aliceAgain.ConnectionId, "alice"),
            new(Kind.UserLeft, Hub, serverNode, aliceAgain.ConnectionId, "alice"),
        ];
        foreach (var observer in new[] { first, second })
        {
            await Eventually.BecomesTrueAsync(() => observer.Recorder.About(serverNode).Count >= expected.Length, TimeSpan.FromSeconds(10),
                $"{observer.Server.Name} saw {expected.Length} changes of the server's node");
            Assert.Equal(expected, observer.Recorder.About(serverNode));
        }

        var exitCode = await server.StopAsync();
        Assert.Equal(0, exitCode);
        await Eventually.BecomesTrueAsync(() => first.Recorder.About(serverNode).Any(c => c.Kind == Kind.NodeLeft), TimeSpan.FromSeconds(10),
            "observer 1 saw the server leave");
        Assert.DoesNotContain(first.Recorder.About(serverNode), c => c.Kind == Kind.NodeReaped);
    }

    [Fact]
    public async Task After_a_kill_the_survivors_subscriber_sees_the_users_leave_and_the_node_reaped()
    {
        if (OperatingSystem.IsWindows())
        {
            // Windows reaps through heartbeats only, after NodeTimeout (30 s here).
            return;
        }

        var survivor = await ObserveAsync("survivor");
        var doomed = await StartAsync(Settings, "doomed");
        var doomedNode = await survivor.Recorder.NodeOfProcessAsync(survivor.Server, doomed.ProcessId);
        var alice = await ConnectAsync(doomed, "alice");
        var bob = await ConnectAsync(doomed, "bob");
        await survivor.Recorder.SeenAsync(Kind.UserJoined, alice.ConnectionId);
        await survivor.Recorder.SeenAsync(Kind.UserJoined, bob.ConnectionId);

        await doomed.KillAsync();
        var killedAt = System.Diagnostics.Stopwatch.StartNew();

        await Eventually.BecomesTrueAsync(() => survivor.Recorder.About(doomedNode).Any(c => c.Kind == Kind.NodeReaped), FastDetection,
            "the survivor's subscriber saw the killed node reaped");
        Output.WriteLine($"The survivor's subscriber saw the killed node reaped {killedAt.ElapsedMilliseconds} ms after the kill.");
        var afterKill = survivor.Recorder.About(doomedNode).SkipWhile(c => c.Kind != Kind.ConnectionLeft).ToList();
        Assert.Equal(
            new SqliteBackplanePresenceChange[]
            {
                new(Kind.ConnectionLeft, Hub, doomedNode, alice.ConnectionId, "alice"),
                new(Kind.UserLeft, Hub, doomedNode, alice.ConnectionId, "alice"),
                new(Kind.ConnectionLeft, Hub, doomedNode, bob.ConnectionId, "bob"),
                new(Kind.UserLeft, Hub, doomedNode, bob.ConnectionId, "bob"),
                new(Kind.NodeReaped, Hub, doomedNode, null, null),
            }.OrderBy(c => c.Kind == Kind.NodeReaped).ThenBy(c => c.ConnectionId, StringComparer.Ordinal).ThenBy(c => c.Kind),
            afterKill.OrderBy(c => c.Kind == Kind.NodeReaped).ThenBy(c => c.ConnectionId, StringComparer.Ordinal).ThenBy(c => c.Kind));
        Assert.Equal(Kind.NodeReaped, afterKill[^1].Kind);
    }

    [Fact]
    public async Task A_failing_handler_is_logged_and_neither_it_nor_other_subscribers_miss_later_changes()
    {
        var observer = await ObserveAsync("observer");
        var presence = observer.Server.Services.GetRequiredService<ISqliteBackplanePresence<TestHub>>();
        var thrown = 0;
        using var failing = presence.OnPresenceChanged(change =>
        {
            Interlocked.Increment(ref thrown);
            throw new InvalidOperationException("handler failure on purpose");
        });

        var first = DisposeAfterTest(await observer.Server.ConnectAsync("carol"));
        await observer.Recorder.SeenAsync(Kind.UserJoined, first.ConnectionId);
        var second = DisposeAfterTest(await observer.Server.ConnectAsync("dave"));
        await observer.Recorder.SeenAsync(Kind.UserJoined, second.ConnectionId);

        // Two connections, each with its user's first join: four changes, each thrown on.
        await Eventually.BecomesTrueAsync(() => Volatile.Read(ref thrown) == 4, TimeSpan.FromSeconds(10), "the failing handler was called for every change");
        Assert.Equal([first.ConnectionId, second.ConnectionId],
            observer.Recorder.Changes.Where(c => c.Kind == Kind.ConnectionJoined).Select(c => c.ConnectionId));
    }

    private async Task<Observer> ObserveAsync(string name)
    {
        var server = DisposeAfterTest(await InProcessServer.StartAsync(Settings, name, InProcessHosting.Kestrel, Output));
        var recorder = new PresenceRecorder();
        DisposeAfterTest(recorder);
        recorder.Subscription = server.Services.GetRequiredService<ISqliteBackplanePresence<TestHub>>().OnPresenceChanged(recorder.RecordAsync);
        return new Observer(server, recorder);
    }

    private sealed record Observer(InProcessServer Server, PresenceRecorder Recorder);

    private sealed class PresenceRecorder : IAsyncDisposable
    {
        private readonly List<SqliteBackplanePresenceChange> _changes = [];

        public IDisposable? Subscription { get; set; }

        public IReadOnlyList<SqliteBackplanePresenceChange> Changes
        {
            get
            {
                lock (_changes)
                {
                    return [.. _changes];
                }
            }
        }

        public Task RecordAsync(SqliteBackplanePresenceChange change)
        {
            lock (_changes)
            {
                _changes.Add(change);
            }

            return Task.CompletedTask;
        }

        /// <summary>The changes about <paramref name="nodeId"/>: its own joining and leaving, and its connections'.</summary>
        public IReadOnlyList<SqliteBackplanePresenceChange> About(string nodeId) => [.. Changes.Where(c => c.NodeId == nodeId)];

        /// <summary>Waits until a change of <paramref name="kind"/> about <paramref name="connectionId"/> was recorded.</summary>
        public Task SeenAsync(Kind kind, string connectionId) =>
            Eventually.BecomesTrueAsync(() => Changes.Any(c => c.Kind == kind && c.ConnectionId == connectionId), TimeSpan.FromSeconds(10),
                $"{kind} of connection {connectionId} was pushed");

        /// <summary>The node id of the server process <paramref name="processId"/>, once it has joined the file.</summary>
        public async Task<string> NodeOfProcessAsync(InProcessServer observer, int processId)
        {
            var presence = observer.Services.GetRequiredService<ISqliteBackplanePresence<TestHub>>();
            string? nodeId = null;
            await Eventually.BecomesTrueAsync(() =>
            {
                nodeId = presence.GetNodesAsync().GetAwaiter().GetResult().FirstOrDefault(n => n.ProcessId == processId)?.NodeId;
                return nodeId is not null;
            }, TimeSpan.FromSeconds(10), $"process {processId} is listed as a node");
            return nodeId!;
        }

        public ValueTask DisposeAsync()
        {
            Subscription?.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}

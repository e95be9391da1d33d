using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.Logging.Abstractions;
using SqliteBackplane.Internal.Delivery;
using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Tests.Infrastructure;
using Xunit;
using SqliteBackplane.Internal.Diagnostics;
using SqliteBackplane.Internal.Flow;

namespace SqliteBackplane.Tests.Core;

/// <summary>
/// One routing rule (docs/architecture.md): random interleavings of sends of every kind and group changes are
/// delivered live into a set of local connections (<see cref="LocalHub"/>, <see cref="ConnectionWriter"/>) and replayed
/// from every position of the log (<see cref="ReplayMatcher.Plan"/>); each connection gets the same messages, the same
/// number of times, in the same order, both ways. Seeded: a failure names the seed that reproduces it.
/// </summary>
public sealed class RoutingPropertyTests
{
    private const int Seeds = 300;
    private const int RowsPerRun = 60;

    private static readonly string[] Groups = ["g0", "g1", "g2"];
    private static readonly (string Id, string? User)[] Members = [("c0", "u0"), ("c1", "u0"), ("c2", "u1"), ("c3", null)];
    private static readonly string[] Users = ["u0", "u1", "u2"];

    [Fact]
    public void Live_delivery_and_a_replay_from_every_position_give_each_connection_the_same_messages()
    {
        for (var seed = 1; seed <= Seeds; seed++)
        {
            RunOnce(seed);
        }
    }

    private static void RunOnce(int seed)
    {
        var rows = Generate(new Random(seed));
        using var node = new TestDeliveryNode();
        var writer = new ConnectionWriter(node, maxPendingPerConnection: 1000, NullLogger.Instance);
        var serializer = new HubMessageSerializer(new TestProtocolResolver([new JsonHubProtocol()]), null);
        var hub = new LocalHub(writer, new ClientResultRelay("hub", node, serializer, NullLogger.Instance), node.NodeId);
        var connections = Members.Select(m => new RecordingConnection(m.Id, m.User)).ToArray();
        foreach (var connection in connections)
        {
            hub.Add(connection);
        }

        foreach (var (id, row) in rows)
        {
            hub.Apply(id, row);
        }

        var groupsAtEnd = hub.SnapshotLocalConnections().ToDictionary(c => c.ConnectionId, c => c.Groups);
        foreach (var connection in connections)
        {
            for (var position = 0; position <= rows.Count; position++)
            {
                var range = rows.Where(r => r.Id > position).ToList();
                var changes = range.Select(r => r.Row).OfType<GroupChangeRow>().Reverse();
                var replay = ReplayMatcher.Plan([connection.ConnectionId], connection.UserIdentifier, groupsAtEnd[connection.ConnectionId], changes, range, max: 10_000)!;
                var live = connection.Received.Where(id => id > position).ToList();
                var replayed = replay.Select(r => r.Id).ToList();
                if (!live.SequenceEqual(replayed))
                {
                    Assert.Fail($"Seed {seed}, connection {connection.ConnectionId} (user {connection.UserIdentifier ?? "none"}), replay after position {position}:\n" +
                        $"  live:   [{string.Join(", ", live)}]\n  replay: [{string.Join(", ", replayed)}]\n  rows:\n{Describe(rows.Where(r => r.Id > position))}");
                }
            }
        }
    }

    // Sends of every kind the manager writes (All, AllExcept, Connection(s), Group(s), GroupExcept, User(s)), with
    // repeated and unknown targets, interleaved with group changes that change something (as the log only holds those).
    private static List<(long Id, Envelope Row)> Generate(Random random)
    {
        var rows = new List<(long, Envelope)>();
        var membership = Members.ToDictionary(m => m.Id, _ => new HashSet<string>(StringComparer.Ordinal));
        string Connection() => random.Next(6) == 0 ? "gone" : Members[random.Next(Members.Length)].Id;
        string Group() => Groups[random.Next(Groups.Length)];
        string User() => Users[random.Next(Users.Length)];
        string[] Several(Func<string> pick) => [.. Enumerable.Range(0, 1 + random.Next(3)).Select(_ => pick())];

        while (rows.Count < RowsPerRun)
        {
            var id = rows.Count + 1L;
            var row = random.Next(11) switch
            {
                0 => Send(id, MessageKind.All, [], []),
                1 => Send(id, MessageKind.All, [], Several(Connection)),
                2 => Send(id, MessageKind.Connections, [Connection()], []),
                3 => Send(id, MessageKind.Connections, Several(Connection), []),
                4 => Send(id, MessageKind.Groups, [Group()], []),
                5 => Send(id, MessageKind.Groups, Several(Group), []),
                6 => Send(id, MessageKind.Groups, [Group()], Several(Connection)),
                7 => Send(id, MessageKind.Users, [User()], []),
                8 => Send(id, MessageKind.Users, Several(User), []),
                _ => Change(Members[random.Next(Members.Length)].Id, Group()),
            };
            rows.Add((id, row));
        }

        return rows;

        Envelope Change(string connection, string group)
        {
            var add = membership[connection].Add(group);
            if (!add)
            {
                membership[connection].Remove(group);
            }

            return new GroupChangeRow { Added = add, ConnectionId = connection, Group = group };
        }
    }

    private static Envelope Send(long id, MessageKind kind, string[] targets, string[] excluded) => new SendRow(kind)
    {
        Targets = targets,
        Excluded = excluded,
        Payloads = [new ProtocolPayload("json", Encoding.UTF8.GetBytes(id.ToString(System.Globalization.CultureInfo.InvariantCulture)))],
    };

    private static string Describe(IEnumerable<(long Id, Envelope Row)> rows) =>
        string.Join("\n", rows.Select(r => $"    {r.Id}: {r.Row.Kind} " + r.Row switch
        {
            SendRow send => $"[{string.Join(", ", send.Targets)}]" + (send.Excluded.Count > 0 ? $" except [{string.Join(", ", send.Excluded)}]" : ""),
            GroupChangeRow change => $"[{change.ConnectionId}, {change.Group}]",
            _ => "",
        }));

    /// <summary>A local connection that records the row of each message written to it (the payload is the row id).</summary>
    private sealed class RecordingConnection : HubConnectionContext
    {
        private static readonly HubConnectionContextOptions Options = new()
        {
            KeepAliveInterval = TimeSpan.FromSeconds(15),
            ClientTimeoutInterval = TimeSpan.FromSeconds(30),
        };

        private static readonly IHubProtocol Json = new JsonHubProtocol();

        public RecordingConnection(string connectionId, string? userId)
            : base(new DefaultConnectionContext(connectionId), Options, NullLoggerFactory.Instance)
        {
            UserIdentifier = userId;
        }

        public List<long> Received { get; } = [];

        public override IHubProtocol Protocol => Json;

        public override ValueTask WriteAsync(HubMessage message, CancellationToken cancellationToken = default) =>
            throw new InvalidOperationException($"Only log rows are written in this test, not {message.GetType().Name}.");

        public override ValueTask WriteAsync(SerializedHubMessage message, CancellationToken cancellationToken = default)
        {
            lock (Received)
            {
                Received.Add(long.Parse(Encoding.UTF8.GetString(message.GetSerializedMessage(Json).Span), System.Globalization.CultureInfo.InvariantCulture));
            }

            return ValueTask.CompletedTask;
        }
    }

    /// <summary>The node as far as local delivery needs it: no file, no pacing beyond counting.</summary>
    private sealed class TestDeliveryNode : IDeliveryNode, IDisposable
    {
        public TestDeliveryNode()
        {
            Metrics = new BackplaneMetrics(null, NodeId, () => 0, () => 1, () => 0);
            Admission = new SendAdmission(1000, 1000, 1000, () => 0, Metrics);
        }

        public string NodeId => "node";

        public BackplaneMetrics Metrics { get; }

        public SendAdmission Admission { get; }

        public PayloadProtection? Protection => null;

        public ResumeTokens ResumeTokens => throw new NotSupportedException();

        public Task<T> WriteAsync<T>(WriteOperation<T> operation) => throw new NotSupportedException();

        public BackplaneDatabase Database => throw new NotSupportedException();

        public void RunAfterOwnWrites(Action write) => write();

        public void Dispose()
        {
            Admission.Dispose();
            Metrics.Dispose();
        }
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.AspNetCore.SignalR.Client;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Reliability;

/// <summary>
/// N server processes x M connections each, with a mix of Clients.All, group, user and connection sends and group
/// churn, accounted exactly: every intended recipient gets every acknowledged message once, each sender's messages
/// arrive in the order it sent them, nothing arrives that was not meant for the connection, and each server's working
/// set after warm-up stays within a stated bound, and the -wal file within MaxWalSize (samples in soak/mixed-traffic-*.csv).
/// CI: 3 x 200 for 60 s. Long run (issue 6): SQLITEBACKPLANE_SOAK=long runs 3 x 2000 for 10 minutes:
/// <c>SQLITEBACKPLANE_SOAK=long dotnet test tests/SqliteBackplane.Tests -c Release --filter FullyQualifiedName~SoakTests</c>.
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
[Trait(TestCategory.Name, TestCategory.Soak)]
public sealed class SoakTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    private sealed record Profile(int Servers, int ConnectionsPerServer, int SendersPerServer, TimeSpan Duration, TimeSpan SenderInterval);

    private static readonly Profile Ci = new(3, 200, 10, TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(200));
    private static readonly Profile Long = new(3, 2000, 30, TimeSpan.FromMinutes(10), TimeSpan.FromMilliseconds(200));

    /// <summary>Working set may grow after warm-up by at most this fraction of the warmed-up value plus this many bytes.</summary>
    private const double MemoryGrowthFraction = 0.25;
    private const long MemoryGrowthSlackBytes = 64L * 1024 * 1024;

    [Fact]
    public async Task Servers_and_connections_under_mixed_traffic_deliver_exactly_once_in_order_with_flat_memory()
    {
        var profile = Environment.GetEnvironmentVariable("SQLITEBACKPLANE_SOAK") == "long" ? Long : Ci;
        var settings = new TestServerSettings { DatabasePath = Database.Path, HeartbeatInterval = TimeSpan.FromSeconds(1), NodeTimeout = TimeSpan.FromSeconds(10) };
        var servers = new List<ServerProcess>();
        for (var s = 0; s < profile.Servers; s++)
        {
            servers.Add(await StartAsync(settings, $"soak-{s}", logToOutput: false));
        }

        // Client i is on server i % Servers and is user u{i / Servers}: every user has one connection on each server.
        var total = profile.Servers * profile.ConnectionsPerServer;
        var connectStopwatch = Stopwatch.StartNew();
        var clients = new TestClient[total];
        for (var batch = 0; batch < total; batch += 50)
        {
            await Task.WhenAll(Enumerable.Range(batch, Math.Min(50, total - batch)).Select(async i =>
            {
                clients[i] = await ConnectAsync(servers[i % profile.Servers], $"u{i / profile.Servers}");
            }));
        }

        Output.WriteLine($"Connected {total} clients to {profile.Servers} servers in {connectStopwatch.Elapsed.TotalSeconds:0.0} s.");
        var ledger = new Ledger(clients);
        var users = Enumerable.Range(0, total).GroupBy(i => i / profile.Servers).ToDictionary(g => $"u{g.Key}", g => g.ToArray());

        // Senders: the first SendersPerServer clients of each server; sender s alone changes and sends to group g{s}.
        var senderIndexes = Enumerable.Range(0, profile.SendersPerServer * profile.Servers).ToArray();
        var memory = new DiskAndMemorySampler(Database.Path, servers.Select((s, i) => ($"soak-{i}", s.ProcessId)).ToList(), TimeSpan.FromSeconds(1));
        using var stop = new CancellationTokenSource();
        var sending = senderIndexes.Select(s => Task.Run(() => SendAsync(s, clients, users, ledger, profile, stop.Token))).ToList();
        var sampling = memory.RunAsync(stop.Token);

        var run = Stopwatch.StartNew();
        while (run.Elapsed < profile.Duration && ledger.Errors.IsEmpty && sending.All(t => !t.IsCompleted))
        {
            await Task.Delay(TimeSpan.FromSeconds(1)); // The run's length; everything is checked by the ledger.
        }

        stop.Cancel();
        await Task.WhenAll(sending).TimeoutAfter(TimeSpan.FromSeconds(60), "the senders to stop");
        await sampling;
        await Eventually.BecomesTrueAsync(() => ledger.Outstanding == 0 || !ledger.Errors.IsEmpty, TimeSpan.FromSeconds(60),
            $"every intended recipient to receive every acknowledged message ({ledger.Outstanding} outstanding)");

        Output.WriteLine($"Ran {run.Elapsed.TotalSeconds:0.0} s with {profile.Servers} servers x {profile.ConnectionsPerServer} connections and {senderIndexes.Length} senders.");
        Output.WriteLine($"Sends acknowledged: all={ledger.Sent[Kind.All]}, group={ledger.Sent[Kind.Group]}, user={ledger.Sent[Kind.User]}, connection={ledger.Sent[Kind.Connection]}; " +
            $"group changes={ledger.GroupChanges}; failed operations={ledger.Failures.Count}.");
        Output.WriteLine($"Deliveries expected={ledger.Expected}, received={ledger.Received}, outstanding={ledger.Outstanding}, errors={ledger.Errors.Count}.");
        foreach (var line in memory.MemoryReport(MemoryGrowthFraction, MemoryGrowthSlackBytes, out _))
        {
            Output.WriteLine(line);
        }

        Output.WriteLine(memory.FilesReport());
        Output.WriteLine($"Samples: {memory.WriteCsv(Path.Combine(AppContext.BaseDirectory, "soak", $"mixed-traffic-{DateTime.UtcNow:yyyyMMdd-HHmmss}.csv"))}");

        Assert.True(ledger.Failures.IsEmpty, $"{ledger.Failures.Count} operations failed, first: {ledger.Failures.FirstOrDefault()}");
        Assert.True(ledger.Errors.IsEmpty, $"{ledger.Errors.Count} delivery errors, first 10:{Environment.NewLine}{string.Join(Environment.NewLine, ledger.Errors.Take(10))}");
        Assert.Equal(0, ledger.Outstanding);
        Assert.Equal(ledger.Expected, ledger.Received);
        Assert.True(ledger.Sent.Values.All(v => v > 0), "Every kind of send must have run at least once.");
        memory.MemoryReport(MemoryGrowthFraction, MemoryGrowthSlackBytes, out var memoryProblem);
        Assert.True(memoryProblem is null, memoryProblem);
        Assert.True(memory.MaxWalBytes <= new SqliteBackplaneOptions().MaxWalSize, $"The -wal file outgrew MaxWalSize: {memory.FilesReport()}");
        foreach (var server in servers)
        {
            ServerLogs.AssertNoErrors(server);
        }
    }

    private static async Task SendAsync(int sender, TestClient[] clients, Dictionary<string, int[]> users, Ledger ledger, Profile profile, CancellationToken stop)
    {
        var random = new Random(sender);
        var client = clients[sender];
        var group = $"g{sender}";
        var members = new HashSet<int>();
        try
        {
            foreach (var member in Enumerable.Range(0, 10).Select(_ => random.Next(clients.Length)).Distinct())
            {
                await client.InvokeAsync(nameof(TestHub.AddToGroup), clients[member].ConnectionId, group);
                members.Add(member);
            }

            using var timer = new PeriodicTimer(profile.SenderInterval);
            var sequence = 0;
            while (await timer.WaitForNextTickAsync(stop))
            {
                var roll = random.NextDouble();
                if (roll < 0.10)
                {
                    var target = random.Next(clients.Length);
                    var add = !members.Contains(target);
                    await client.InvokeAsync(add ? nameof(TestHub.AddToGroup) : nameof(TestHub.RemoveFromGroup), clients[target].ConnectionId, group);
                    if (add)
                    {
                        members.Add(target);
                    }
                    else
                    {
                        members.Remove(target);
                    }

                    ledger.CountGroupChange();
                    continue;
                }

                var id = $"{sender}|{sequence++}";
                (Kind kind, int[] recipients, string method, object[] args) = roll switch
                {
                    < 0.50 => (Kind.Group, members.ToArray(), nameof(TestHub.SendGroup), new object[] { group, id }),
                    < 0.70 => PickUser(random, users, id),
                    < 0.98 => PickConnection(random, clients, id),
                    _ => (Kind.All, Enumerable.Range(0, clients.Length).ToArray(), nameof(TestHub.SendAll), new object[] { id }),
                };
                ledger.Expect(id, recipients);
                try
                {
                    await client.InvokeAsync(method, args);
                    ledger.Acknowledge(kind);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    ledger.Withdraw(id, recipients);
                    ledger.Failures.Enqueue($"{method} {id}: {ex.Message}");
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            ledger.Failures.Enqueue($"sender {sender}: {ex.GetType().Name}: {ex.Message}");
        }
    }

    private static (Kind, int[], string, object[]) PickUser(Random random, Dictionary<string, int[]> users, string id)
    {
        var user = $"u{random.Next(users.Count)}";
        return (Kind.User, users[user], nameof(TestHub.SendUser), [user, id]);
    }

    private static (Kind, int[], string, object[]) PickConnection(Random random, TestClient[] clients, string id)
    {
        var target = random.Next(clients.Length);
        return (Kind.Connection, [target], nameof(TestHub.SendConnection), [clients[target].ConnectionId, id]);
    }

    private enum Kind { All, Group, User, Connection }

    /// <summary>What each client must still receive, checked on arrival: exactly once, per-sender order, nothing extra.</summary>
    private sealed class Ledger
    {
        private readonly HashSet<string>[] _pending;
        private readonly Dictionary<int, int>[] _lastSequence;
        private long _expected;
        private long _received;
        private long _outstanding;
        private int _groupChanges;

        public Ledger(TestClient[] clients)
        {
            _pending = clients.Select(_ => new HashSet<string>(StringComparer.Ordinal)).ToArray();
            _lastSequence = clients.Select(_ => new Dictionary<int, int>()).ToArray();
            for (var i = 0; i < clients.Length; i++)
            {
                var index = i;
                clients[i].Connection.Remove(ClientMethods.Receive);
                clients[i].Connection.On<string>(ClientMethods.Receive, message => Arrived(index, message));
            }
        }

        public ConcurrentDictionary<Kind, long> Sent { get; } = new(Enum.GetValues<Kind>().ToDictionary(k => k, _ => 0L));

        public ConcurrentQueue<string> Errors { get; } = new();

        public ConcurrentQueue<string> Failures { get; } = new();

        public long Expected => Interlocked.Read(ref _expected);

        public long Received => Interlocked.Read(ref _received);

        public long Outstanding => Interlocked.Read(ref _outstanding);

        public int GroupChanges => Volatile.Read(ref _groupChanges);

        public void CountGroupChange() => Interlocked.Increment(ref _groupChanges);

        public void Expect(string id, int[] recipients)
        {
            foreach (var r in recipients)
            {
                lock (_pending[r])
                {
                    _pending[r].Add(id);
                }
            }

            Interlocked.Add(ref _expected, recipients.Length);
            Interlocked.Add(ref _outstanding, recipients.Length);
        }

        public void Withdraw(string id, int[] recipients)
        {
            foreach (var r in recipients)
            {
                lock (_pending[r])
                {
                    if (_pending[r].Remove(id))
                    {
                        Interlocked.Decrement(ref _outstanding);
                        Interlocked.Decrement(ref _expected);
                    }
                }
            }
        }

        public void Acknowledge(Kind kind) => Sent.AddOrUpdate(kind, 1, (_, v) => v + 1);

        private void Arrived(int recipient, string id)
        {
            var separator = id.IndexOf('|');
            var sender = int.Parse(id.AsSpan(0, separator), System.Globalization.CultureInfo.InvariantCulture);
            var sequence = int.Parse(id.AsSpan(separator + 1), System.Globalization.CultureInfo.InvariantCulture);
            lock (_pending[recipient])
            {
                if (!_pending[recipient].Remove(id))
                {
                    Errors.Enqueue($"client {recipient} received '{id}', which it was not meant to receive or received before.");
                    return;
                }

                if (_lastSequence[recipient].TryGetValue(sender, out var last) && sequence <= last)
                {
                    Errors.Enqueue($"client {recipient} received '{id}' after sequence {last} from the same sender.");
                }

                _lastSequence[recipient][sender] = sequence;
            }

            Interlocked.Increment(ref _received);
            Interlocked.Decrement(ref _outstanding);
        }
    }
}

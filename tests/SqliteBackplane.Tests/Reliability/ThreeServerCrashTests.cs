using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Reliability;

/// <summary>
/// kill -9 of one of three server processes while the other two carry steady traffic. Extends
/// MultiProcess/CrashTests (one of two, no traffic): here the survivors' traffic must show no gap, duplicate or
/// reordering across the crash, and their logs must stay free of errors.
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
public sealed class ThreeServerCrashTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    private static readonly TimeSpan ReapTimeout = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Killing_one_of_three_servers_under_traffic_leaves_the_other_two_delivering_without_a_gap()
    {
        var settings = new TestServerSettings { DatabasePath = Database.Path };
        var first = await StartAsync(settings, "first");
        var second = await StartAsync(settings, "second");
        var doomed = await StartAsync(settings, "doomed");

        // Survivors: a sender and a receiver on each; the doomed server: a receiver, a sender and a client-result victim.
        var senders = new[] { await ConnectAsync(first, "sender-1"), await ConnectAsync(second, "sender-2") };
        var receivers = new[] { await RecordingAsync(first, "receiver-1"), await RecordingAsync(second, "receiver-2") };
        var doomedReceiver = await RecordingAsync(doomed, "doomed-receiver");
        var doomedSender = await ConnectAsync(doomed, "doomed-sender");
        var victim = await ConnectAsync(doomed, "victim");
        foreach (var member in receivers.Select(r => r.Client).Append(doomedReceiver.Client).Append(victim))
        {
            await senders[0].InvokeAsync(nameof(TestHub.AddToGroup), member.ConnectionId, "room");
        }

        // A client result waiting on the doomed server when it dies.
        var asked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        victim.OnCompute(_ =>
        {
            asked.TrySetResult();
            return new TaskCompletionSource<int>().Task;
        });
        var pendingResult = senders[1].Connection.InvokeAsync<int>(nameof(TestHub.InvokeClientResult), victim.ConnectionId, 7);
        await asked.Task.DefaultTimeout("the victim to be asked for a client result");

        // Steady traffic: each survivor sender alternates Clients.All and Clients.Group, numbering its messages.
        using var stop = new CancellationTokenSource();
        var acknowledged = senders.Select(_ => new ConcurrentQueue<string>()).ToArray();
        var traffic = senders.Select((sender, index) => SendSteadilyAsync(sender, $"s{index + 1}", acknowledged[index], stop.Token)).ToList();
        var doomedTraffic = SendSteadilyAsync(doomedSender, "d", new ConcurrentQueue<string>(), stop.Token);

        await WaitForCountAsync(receivers, 100, "traffic to flow before the crash");
        await doomed.KillAsync();
        var killed = Stopwatch.StartNew();
        var receivedAtKill = receivers.Select(r => r.Count).ToArray();

        var pendingFailure = await Assert.ThrowsAsync<HubException>(() => pendingResult.TimeoutAfter(ReapTimeout, "the client result waiting on the killed server to fail"));
        Output.WriteLine($"Client result waiting on the killed server failed after {killed.ElapsedMilliseconds} ms: {pendingFailure.Message}");
        Assert.Contains("Connection disconnected.", pendingFailure.Message);

        var doomedConnections = new[] { doomedReceiver.Client.ConnectionId, doomedSender.ConnectionId, victim.ConnectionId };
        await Eventually.BecomesTrueAsync(
            () => doomedConnections.All(id => !Mentions("connections", id) && !Mentions("groups", id)),
            ReapTimeout, "the killed server's connections and group memberships are removed");
        Output.WriteLine($"Killed server's connection and group rows gone {killed.ElapsedMilliseconds} ms after the kill (node timeout {settings.NodeTimeout.TotalMilliseconds} ms).");
        Assert.Equal(4, await senders[0].InvokeAsync<int>(nameof(TestHub.GetConnectionCount)));

        // Keep going well past the reap, then stop and account for every acknowledged message.
        await WaitForCountAsync(receivers, receivers.Max(r => r.Count) + 100, "traffic to flow after the reap");
        stop.Cancel();
        await Task.WhenAll(traffic).DefaultTimeout("the survivors' senders to stop");
        await Task.WhenAny(doomedTraffic, Task.Delay(TaskTimeoutExtensions.DefaultTimeoutValue));

        var expected = acknowledged.SelectMany(q => q).ToList();
        foreach (var receiver in receivers)
        {
            await Eventually.BecomesTrueAsync(() => receiver.Messages.Count(m => !m.StartsWith('d')) >= expected.Count, TaskTimeoutExtensions.DefaultTimeoutValue,
                $"{receiver.Client.Description} received all {expected.Count} acknowledged messages");
            var fromSurvivors = receiver.Messages.Where(m => !m.StartsWith('d')).ToList();
            for (var s = 0; s < acknowledged.Length; s++)
            {
                var prefix = $"s{s + 1}:";
                var sent = acknowledged[s].ToList();
                var got = fromSurvivors.Where(m => m.StartsWith(prefix, StringComparison.Ordinal)).ToList();
                Assert.True(sent.SequenceEqual(got),
                    $"{receiver.Client.Description}: sender {prefix} acknowledged {sent.Count} messages and {got.Count} arrived; first difference at index {FirstDifference(sent, got)}.");
            }
        }

        Output.WriteLine($"Acknowledged by the survivors: {string.Join(", ", acknowledged.Select((q, i) => $"s{i + 1}={q.Count}"))}; " +
            $"received at kill: {string.Join(", ", receivedAtKill)}; received in total: {string.Join(", ", receivers.Select(r => r.Count))}.");
        ServerLogs.AssertNoErrors(first);
        ServerLogs.AssertNoErrors(second);
    }

    private static async Task SendSteadilyAsync(TestClient sender, string name, ConcurrentQueue<string> acknowledged, CancellationToken stop)
    {
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            var message = $"{name}:{i}";
            try
            {
                if (i % 2 == 0)
                {
                    await sender.InvokeAsync(nameof(TestHub.SendAll), message);
                }
                else
                {
                    await sender.InvokeAsync(nameof(TestHub.SendGroup), "room", message);
                }
            }
            catch (Exception) when (name == "d")
            {
                return; // The doomed server's sender dies with it.
            }

            acknowledged.Enqueue(message);
        }
    }

    private static string FirstDifference(List<string> expected, List<string> actual)
    {
        for (var i = 0; i < Math.Min(expected.Count, actual.Count); i++)
        {
            if (expected[i] != actual[i])
            {
                return $"{i} (expected '{expected[i]}', got '{actual[i]}')";
            }
        }

        return $"{Math.Min(expected.Count, actual.Count)} (one list ends)";
    }

    private static Task WaitForCountAsync(Recorder[] receivers, int count, string what) =>
        Eventually.BecomesTrueAsync(() => receivers.All(r => r.Count >= count), TimeSpan.FromSeconds(30), what);

    private bool Mentions(string table, string value) =>
        BackplaneTables.AnyRowMentions(Database, SqliteBackplaneOptions.DefaultTablePrefix, table, value);

    private async Task<Recorder> RecordingAsync(ServerProcess server, string user) => new(await ConnectAsync(server, user));

    /// <summary>Records every Receive message of a client in arrival order (thread-safe snapshot).</summary>
    internal sealed class Recorder
    {
        private readonly List<string> _messages = [];

        public Recorder(TestClient client)
        {
            Client = client;
            // Replaces TestClient's own channel handler, so nothing accumulates unread.
            client.Connection.Remove(ClientMethods.Receive);
            client.Connection.On<string>(ClientMethods.Receive, message =>
            {
                lock (_messages)
                {
                    _messages.Add(message);
                }
            });
        }

        public TestClient Client { get; }

        public int Count
        {
            get
            {
                lock (_messages)
                {
                    return _messages.Count;
                }
            }
        }

        public List<string> Messages
        {
            get
            {
                lock (_messages)
                {
                    return [.. _messages];
                }
            }
        }
    }
}

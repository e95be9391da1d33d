using Microsoft.AspNetCore.Http.Connections;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Deployment;

/// <summary>
/// Three server processes behind one address (nginx with the app's affinity cookie, or YARP with its own), with
/// official .NET clients that all come from 127.0.0.1: each connection's negotiate and every later request stay on one
/// process (a long poll or a Server-Sent Events send that reached another process would fail the connection), the
/// clients spread over the processes, and every message arrives exactly once, in order, across processes.
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
public sealed class FrontDoorTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    private const int Clients = 6;
    private const int Messages = 30;

    [Theory]
    [InlineData(FrontDoorKind.Nginx, HttpTransportType.WebSockets)]
    [InlineData(FrontDoorKind.Nginx, HttpTransportType.ServerSentEvents)]
    [InlineData(FrontDoorKind.Nginx, HttpTransportType.LongPolling)]
    [InlineData(FrontDoorKind.Yarp, HttpTransportType.WebSockets)]
    [InlineData(FrontDoorKind.Yarp, HttpTransportType.ServerSentEvents)]
    [InlineData(FrontDoorKind.Yarp, HttpTransportType.LongPolling)]
    public async Task Each_connection_stays_on_one_process_and_every_message_arrives_once_in_order(FrontDoorKind kind, HttpTransportType transport)
    {
        var servers = new List<ServerProcess>();
        for (var n = 1; n <= 3; n++)
        {
            servers.Add(await StartAsync(new TestServerSettings { DatabasePath = Database.Path, RouteKey = $"p{n}" }, $"p{n}"));
        }
        var frontDoor = DisposeAfterTest(await FrontDoors.StartAsync(kind, [.. servers.Select(server => new Backend(server.Settings.RouteKey!, server.Port))]));
        var hub = new UriBuilder(frontDoor.Address) { Path = HubPaths.Test }.Uri;

        var clients = new List<TestClient>();
        var processOf = new Dictionary<TestClient, int>();
        for (var n = 0; n < Clients; n++)
        {
            TestClient client;
            try
            {
                client = DisposeAfterTest(await TestClient.ConnectAsync(hub, $"user-{n}", HubProtocolKind.Json, transport, $"client {n} through {kind}"));
            }
            catch (Exception ex)
            {
                throw new InvalidOperationException($"Client {n} could not connect through {kind}: {ex.Message}{Environment.NewLine}{kind}:{Environment.NewLine}{frontDoor.Log}", ex);
            }
            clients.Add(client);
            // Every invocation is a request of its own over long polling and Server-Sent Events.
            var processes = new List<int>();
            for (var call = 0; call < 5; call++)
            {
                processes.Add(await client.InvokeAsync<int>(nameof(TestHub.GetProcessId)));
            }
            Assert.True(processes.Distinct().Count() == 1, $"{client.Description} reached processes {string.Join(", ", processes)}.{Environment.NewLine}{frontDoor.Log}");
            Assert.Contains(processes[0], servers.Select(server => server.ProcessId));
            processOf[client] = processes[0];
            await client.InvokeAsync(nameof(TestHub.AddToGroup), client.ConnectionId, "room");
        }

        var used = processOf.Values.Distinct().Count();
        Assert.True(used >= 2, $"All {Clients} clients came to one process ({processOf.Values.First()}): the front door does not spread new connections.");

        var expected = new List<string>();
        for (var n = 0; n < Messages; n++)
        {
            var message = $"m{n}";
            // A sender on each process in turn: one global order across processes.
            var sender = clients[n % Clients];
            await (n % 2 == 0
                ? sender.InvokeAsync(nameof(TestHub.SendAll), message)
                : sender.InvokeAsync(nameof(TestHub.SendGroup), "room", message));
            expected.Add(message);
        }

        // Sends from different processes are ordered by their commits, not by when they returned; each sender's own
        // messages keep their order, and every client sees the one log order.
        var first = await clients[0].ReceiveAsync(Messages);
        Assert.Equal(expected.Order(StringComparer.Ordinal), first.Order(StringComparer.Ordinal));
        for (var s = 0; s < Clients; s++)
        {
            var bySender = expected.Where((_, n) => n % Clients == s).ToList();
            Assert.Equal(bySender, first.Where(bySender.Contains).ToList());
        }
        foreach (var client in clients.Skip(1))
        {
            Assert.Equal(first, await client.ReceiveAsync(Messages));
        }
        await TestClient.AssertNoMoreMessagesAsync(clients[0], [.. clients]);
        Output.WriteLine($"{kind}, {transport}: {Clients} clients on {used} processes; {Messages} messages each, once, in order.");
    }
}

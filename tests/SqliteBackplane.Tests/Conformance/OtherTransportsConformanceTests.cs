using Microsoft.AspNetCore.Http.Connections;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Conformance;

/// <summary>
/// A subset of the cross-process conformance suite over the official client's other transports: Server-Sent Events
/// and long polling (negotiated, no WebSockets), mixed with WebSocket clients, on two processes sharing one file.
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
public sealed class OtherTransportsConformanceTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    [Theory]
    [InlineData(HttpTransportType.ServerSentEvents)]
    [InlineData(HttpTransportType.LongPolling)]
    public async Task Sends_groups_users_and_client_results_cross_processes(HttpTransportType transport)
    {
        var settings = new TestServerSettings { DatabasePath = Database.Path };
        var first = await StartAsync(settings, "server 0");
        var second = await StartAsync(settings, "server 1");
        var sender = await ConnectAsync(first, "sender", transport: transport);
        var local = await ConnectAsync(first, "local", transport: transport);
        var remote = await ConnectAsync(second, "remote", transport: transport);
        var remoteWebSocket = await ConnectAsync(second, "remote-websocket");
        // Server-Sent Events carry text only; long polling carries MessagePack's binary frames too.
        var remoteMessagePack = transport == HttpTransportType.LongPolling
            ? await ConnectAsync(second, "remote-messagepack", HubProtocolKind.MessagePack, transport)
            : await ConnectAsync(second, "remote-newtonsoft", HubProtocolKind.NewtonsoftJson, transport);
        TestClient[] everyone = [sender, local, remote, remoteWebSocket, remoteMessagePack];
        var group = $"group-{Guid.NewGuid():N}";

        await sender.InvokeAsync(nameof(TestHub.SendAll), "to all");
        foreach (var client in everyone)
        {
            await client.AssertReceivesAsync("to all");
        }

        await sender.InvokeAsync(nameof(TestHub.AddToGroup), remote.ConnectionId, group);
        await remote.InvokeAsync(nameof(TestHub.AddToGroup), local.ConnectionId, group);
        await remoteWebSocket.InvokeAsync(nameof(TestHub.SendGroup), group, "to group");
        await remote.AssertReceivesAsync("to group");
        await local.AssertReceivesAsync("to group");

        await remote.InvokeAsync(nameof(TestHub.SendUser), "local", "to user");
        await local.AssertReceivesAsync("to user");

        remote.OnCompute(argument => Task.FromResult(argument * 2));
        sender.OnCompute(argument => Task.FromResult(argument + 100));
        Assert.Equal(14, await sender.InvokeAsync<int>(nameof(TestHub.InvokeClientResult), remote.ConnectionId, 7));
        Assert.Equal(107, await remoteMessagePack.InvokeAsync<int>(nameof(TestHub.InvokeClientResult), sender.ConnectionId, 7));

        await TestClient.AssertNoMoreMessagesAsync(remoteWebSocket, everyone);
    }
}

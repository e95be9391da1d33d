using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Conformance;

/// <summary>The conformance suite on two TestServer OS processes sharing one SQLite file.</summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
public sealed class TwoProcessesConformanceTests(ITestOutputHelper output) : CrossProcessConformanceTests(output)
{
    [Fact]
    public async Task A_process_without_a_protocol_others_use_is_skipped_for_those_connections_and_logged()
    {
        // README: "a row without a payload for a connection's protocol is skipped for that connection and logged".
        var lacking = await StartServerAsync(DefaultSettings() with { MessagePack = false }, "server without MessagePack");
        var receiving = (ServerProcess)Server(0);
        var sender = await ConnectAsync(lacking, "sender");
        var json = await ConnectAsync(0, "json");
        var messagePack = await ConnectAsync(0, "messagepack", HubProtocolKind.MessagePack);

        await sender.InvokeAsync(nameof(TestHub.SendAll), "written without MessagePack");

        await sender.AssertReceivesAsync("written without MessagePack");
        await json.AssertReceivesAsync("written without MessagePack");
        var logLine = $"has no payload for hub protocol 'messagepack' used by connection {messagePack.ConnectionId}";
        await Eventually.BecomesTrueAsync(() => receiving.Output.Contains(logLine, StringComparison.Ordinal), TaskTimeoutExtensions.DefaultTimeoutValue, "server 0 logs ProtocolPayloadMissing");
        Assert.Contains("[21]", receiving.Output.Split('\n').First(line => line.Contains(logLine, StringComparison.Ordinal)), StringComparison.Ordinal);
        // Nothing crashed: the MessagePack connection skipped only that row and receives what server 0 writes.
        var localSender = await ConnectAsync(0, "local-sender");
        await AssertNoMoreMessagesAsync(localSender, messagePack, json, sender);
    }
}

using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.EndToEnd;

/// <summary>
/// The JavaScript client users ship (@microsoft/signalr on Node, JSON protocol, negotiated WebSockets) against two
/// TestServer processes on one SQLite file. The scripts live in tests/e2e; each prints one OK line per check.
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
public sealed class NodeClientTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromSeconds(180);

    [Fact]
    public async Task Node_client_sends_to_all_groups_users_and_gets_client_results_across_two_processes()
    {
        var (server1, server2) = await StartServersAsync();

        var result = await NodeScripts.RunAsync("node-client.mjs", [server1.Address.ToString(), server2.Address.ToString()], ScriptTimeout, Output);

        result.AssertPassed(
            "4 connections",
            "SendAll: 2 messages, each received exactly once by all 4 clients on both servers",
            "SendGroup from server 2: members on both servers got 'group-1'",
            "RemoveFromGroup across servers",
            "SendUser: both of bob's connections (server 1 and 2) got 'user-1'",
            "client results: server 1 -> bob on server 2 returned 42; server 2 -> bob2 on server 1 returned 21; unknown connection failed at once");
    }

    [Fact]
    public async Task Node_client_with_stateful_reconnect_loses_and_duplicates_no_backplane_message_across_a_transport_drop()
    {
        var (server1, server2) = await StartServersAsync();

        var result = await NodeScripts.RunAsync("stateful-reconnect.mjs", [server1.Address.ToString(), server2.Address.ToString()], ScriptTimeout, Output);

        result.AssertPassed(
            "alice ",
            "alice received 11 messages from server 2 in order",
            "alice's socket was destroyed; her client started a stateful reconnect (held)",
            "server 1 dispatched 10 messages while alice's transport was down",
            "alice received all 31 messages exactly once, in order, on connection",
            "no message lost or duplicated across the drop (31 from server 2 + alice's own marker); 1 reconnect");
    }

    private async Task<(ServerProcess Server1, ServerProcess Server2)> StartServersAsync()
    {
        var settings = new TestServerSettings { DatabasePath = Database.Path };
        var server1 = await StartAsync(settings, "server 1");
        var server2 = await StartAsync(settings, "server 2");
        return (server1, server2);
    }
}

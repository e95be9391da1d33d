using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.EndToEnd;

/// <summary>
/// Resume with the npm helper (clients/js, @sqlite-backplane/signalr-resume) on @microsoft/signalr in Node, against
/// two TestServer processes with EnableResume: tests/e2e/resume.mjs. The receiving client reconnects to the other
/// process (or the same one) after its transport drops, after its server stops gracefully, and after its server is killed; it ends with
/// every numbered message exactly once, in order. A client without the helper behaves as without the feature; past
/// the resume window the helper reports the gap. JSON, and MessagePack for the kill case. Also runs the helper's own
/// unit tests (node --test).
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
public sealed class NodeResumeTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromSeconds(180);

    /// <summary>Short enough for the gap test to wait past it (the script waits 2.5 s).</summary>
    private static readonly TimeSpan ShortResumeWindow = TimeSpan.FromSeconds(1);

    [Theory]
    [InlineData("drop", false, false)]
    [InlineData("drop", false, true)]
    [InlineData("stop", false, false)]
    [InlineData("kill", false, false)]
    [InlineData("kill", true, false)]
    public async Task Node_client_with_the_helper_resumes_with_every_message_once_in_order(string mode, bool messagePack, bool sameServer)
    {
        var (server1, server2) = await StartServersAsync(resumeWindow: null);
        List<string> arguments = [server1.Address.ToString(), server2.Address.ToString(), mode, server1.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        if (messagePack)
        {
            arguments.Add("--messagepack");
        }
        if (sameServer)
        {
            arguments.Add("--same-server");
        }

        var result = await NodeScripts.RunAsync("resume.mjs", arguments, ScriptTimeout, Output);

        result.AssertPassed(
            "alice ",
            "alice received 12 and bob 7 messages in order",
            $"server 1 is gone for alice and bob ({mode}); both clients are reconnecting (held)",
            "sent 12 messages while alice was away",
            sameServer ? "alice reconnected to server 1 as " : "alice reconnected to server 2 as ",
            "alice received all 36 messages sent to her exactly once, in order (12 of them sent while she was away), group kept",
            "bob (no helper) received 11 messages, none of those sent while he was away; no reserved invocation surfaced in a client");
        Assert.Contains(messagePack ? "(messagepack protocol)" : "(json protocol)", result.Checks[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Node_client_with_the_helper_is_told_of_the_gap_after_the_resume_window()
    {
        var (server1, server2) = await StartServersAsync(ShortResumeWindow);

        var result = await NodeScripts.RunAsync("resume.mjs", [server1.Address.ToString(), server2.Address.ToString(), "gap"], ScriptTimeout, Output);

        result.AssertPassed(
            "alice ",
            "alice received 12 and bob 7 messages in order",
            "alice stopped her connection and waited 2500 ms, past the resume window",
            "sent 12 messages while alice was away",
            "alice reconnected to server 2 as ",
            "alice was told of the gap (\"expired\") before any new message, then received the 8 messages sent to her after her restart, in order",
            "bob (no helper, stayed on server 1) received his 21 messages; no reserved invocation surfaced in a client");
    }

    [Fact]
    public async Task Node_client_with_the_helper_and_stateful_reconnect_loses_and_duplicates_nothing_across_a_transport_drop()
    {
        // The helper's reserved invocations must count in the stateful-reconnect sequence like any other message.
        var (server1, server2) = await StartServersAsync(resumeWindow: null);

        var result = await NodeScripts.RunAsync("stateful-reconnect.mjs", [server1.Address.ToString(), server2.Address.ToString(), "--resume"], ScriptTimeout, Output);

        result.AssertPassed(
            "alice ",
            "alice received 11 messages from server 2 in order",
            "alice's socket was destroyed; her client started a stateful reconnect (held)",
            "server 1 dispatched 10 messages while alice's transport was down",
            "alice received all 31 messages exactly once, in order, on connection",
            "no message lost or duplicated across the drop (31 from server 2 + alice's own marker); 1 reconnect",
            "alice's resume helper: 1 connect, no resume, no gap, position ");
    }

    [Fact]
    public async Task Npm_resume_helper_unit_tests_pass()
    {
        var (exitCode, testOutput) = await NodeScripts.RunResumeHelperTestsAsync(ScriptTimeout, Output);

        Assert.True(exitCode == 0 && testOutput.Contains("# fail 0", StringComparison.Ordinal) && !testOutput.Contains("# pass 0", StringComparison.Ordinal),
            $"The npm resume helper's unit tests failed (exit code {exitCode}):{Environment.NewLine}{testOutput}");
    }

    private async Task<(ServerProcess Server1, ServerProcess Server2)> StartServersAsync(TimeSpan? resumeWindow)
    {
        var settings = new TestServerSettings { DatabasePath = Database.Path, EnableResume = true, ResumeWindow = resumeWindow };
        var server1 = await StartAsync(settings, "server 1");
        var server2 = await StartAsync(settings, "server 2");
        return (server1, server2);
    }
}

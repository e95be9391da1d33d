using SqliteBackplane.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.EndToEnd;

/// <summary>
/// The chat sample's page in Debian's Chromium (playwright-core, tests/e2e/browser-*.mjs): sample instances run as
/// processes on one temporary SQLite file, a page on each; a room message each way, and a killed instance's pages
/// failing over while the launcher restarts it.
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
[Trait(TestCategory.Name, TestCategory.Browser)]
public sealed class BrowserTests(ITestOutputHelper output)
{
    /// <summary>Debian's package; the tests never download a browser.</summary>
    public const string ChromiumPath = "/usr/bin/chromium";

    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromSeconds(180);

    [Fact]
    public async Task A_room_message_sent_on_instance_1_appears_on_instance_2_in_Chromium()
    {
        AssertChromiumInstalled();
        using var database = new TempDatabase();
        await using var instance1 = await ChatSampleProcess.StartAsync(1, database.Path, output);
        await using var instance2 = await ChatSampleProcess.StartAsync(2, database.Path, output);

        var result = await NodeScripts.RunAsync("browser-chat.mjs", [instance1.Address.ToString(), instance2.Address.ToString(), NewArtifactDirectory()], ScriptTimeout, output);

        result.AssertPassed(
            "launched /usr/bin/chromium",
            "alice's page is served by instance 1",
            "bob's page (instance 2) shows alice's message",
            "alice's page (instance 1) shows bob's reply",
            "1 message from alice and 1 from bob on each page; no page errors",
            "alice's timeline filtered to #random shows only #random",
            "screenshots saved");
        AssertScreenshots(result, 2);

        Assert.Equal(0, await instance1.StopAsync());
        Assert.Equal(0, await instance2.StopAsync());
    }

    [Fact]
    public async Task When_an_instance_is_killed_its_pages_fail_over_the_others_show_its_users_leaving_and_messages_cross_after_the_launcher_restarts_it()
    {
        AssertChromiumInstalled();
        using var database = new TempDatabase();
        await using var launcher = await ChatSampleLauncherProcess.StartAsync(2, database.Path, output);

        // Both pages open the launcher's one URL; the script kills bob's instance with SIGKILL, by the pid his page shows.
        var result = await NodeScripts.RunAsync("browser-failover.mjs",
            [launcher.FrontDoor.ToString(), launcher.Addresses[0].ToString(), launcher.Addresses[1].ToString(), NewArtifactDirectory()], ScriptTimeout, output);

        result.AssertPassed(
            "launched /usr/bin/chromium",
            "alice's page (instance ",
            "killed bob's instance",
            "bob's page reconnected to alice's instance through the same URL",
            "bob's page shows the 5 messages alice sent while his instance was dead, each once, in order, after the one before the kill",
            "alice's page shows \"carol left\" and \"Server pid",
            "the killed instance is back as pid",
            "dave's message from the restarted instance reaches alice and bob, and alice's reaches dave; no page errors",
            "screenshots saved");
        AssertScreenshots(result, 3);
        Assert.Matches(@"\[launcher\] Instance [12] exited with code 137; the other instances keep serving\. Restarting instance [12]", launcher.Output);
    }

    private static void AssertChromiumInstalled() =>
        Assert.True(File.Exists(ChromiumPath),
            $"Chromium is missing at {ChromiumPath}: run `apt-get install -y chromium` (./test.sh installs it when run as root). This test never downloads a browser.");

    private static string NewArtifactDirectory() =>
        Path.Combine(AppContext.BaseDirectory, "artifacts", "browser", $"{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid():N}"[..24]);

    private void AssertScreenshots(NodeScriptResult result, int count)
    {
        Assert.Equal(count, result.Artifacts.Count);
        foreach (var screenshot in result.Artifacts)
        {
            Assert.True(new FileInfo(screenshot) is { Exists: true, Length: > 0 }, $"Screenshot {screenshot} is missing or empty.");
            output.WriteLine($"Screenshot artifact: {screenshot}");
        }
    }
}

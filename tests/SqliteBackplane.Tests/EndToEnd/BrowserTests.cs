using SqliteBackplane.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.EndToEnd;

/// <summary>
/// The chat sample's page in Debian's Chromium (playwright-core, tests/e2e/browser-chat.mjs): two sample instances
/// run as processes on one temporary SQLite file, a page on each, a room message each way.
/// </summary>
[Collection(MultiProcessCollection.Name)]
public sealed class BrowserTests(ITestOutputHelper output)
{
    /// <summary>Debian's package; the tests never download a browser.</summary>
    public const string ChromiumPath = "/usr/bin/chromium";

    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromSeconds(180);

    [Fact]
    public async Task A_room_message_sent_on_instance_1_appears_on_instance_2_in_Chromium()
    {
        Assert.True(File.Exists(ChromiumPath),
            $"Chromium is missing at {ChromiumPath}: run `apt-get install -y chromium` (./test.sh installs it when run as root). This test never downloads a browser.");
        using var database = new TempDatabase();
        await using var instance1 = await ChatSampleProcess.StartAsync(1, database.Path, output);
        await using var instance2 = await ChatSampleProcess.StartAsync(2, database.Path, output);
        var artifacts = Path.Combine(AppContext.BaseDirectory, "artifacts", "browser", $"{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid():N}"[..24]);

        var result = await NodeScripts.RunAsync("browser-chat.mjs", [instance1.Address.ToString(), instance2.Address.ToString(), artifacts], ScriptTimeout, output);

        result.AssertPassed(
            "launched /usr/bin/chromium",
            "alice's page is served by instance 1",
            "bob's page (instance 2) shows alice's message",
            "alice's page (instance 1) shows bob's reply",
            "1 message from alice and 1 from bob on each page; no page errors",
            "screenshots saved");
        Assert.Equal(2, result.Artifacts.Count);
        foreach (var screenshot in result.Artifacts)
        {
            Assert.True(new FileInfo(screenshot) is { Exists: true, Length: > 0 }, $"Screenshot {screenshot} is missing or empty.");
            output.WriteLine($"Screenshot artifact: {screenshot}");
        }

        Assert.Equal(0, await instance1.StopAsync());
        Assert.Equal(0, await instance2.StopAsync());
    }
}

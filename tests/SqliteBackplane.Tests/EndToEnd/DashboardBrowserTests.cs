using SqliteBackplane.TestServer;
using SqliteBackplane.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.EndToEnd;

/// <summary>
/// The backplane dashboard in Debian's Chromium (playwright-core, tests/e2e/browser-dashboard.mjs): three TestServer
/// processes on one file, the page open on the first. Set <c>DASHBOARD_SOAK_SECONDS=60</c> for the full minute of
/// memory watching (20 s by default), and <c>SQLITEBACKPLANE_UPDATE_SCREENSHOTS=1</c> to refresh docs/images/dashboard.png
/// with the picture taken during the kill.
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
[Trait(TestCategory.Name, TestCategory.Browser)]
public sealed class DashboardBrowserTests(ITestOutputHelper output)
{
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromSeconds(240);

    /// <summary>Three runs in a row, each with its own processes and file: issue 19 asks for three passes in a row in CI.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task The_page_lists_three_nodes_shows_sends_and_presence_keeps_its_memory_flat_and_shows_a_killed_node_red_then_removes_it(int run)
    {
        output.WriteLine($"Run {run} of 3.");
        Assert.True(File.Exists(BrowserTests.ChromiumPath),
            $"Chromium is missing at {BrowserTests.ChromiumPath}: run `apt-get install -y chromium` (./test.sh installs it when run as root). This test never downloads a browser.");
        using var database = new TempDatabase();
        // A production-like node timeout, so that the kill is noticed by crash detection (the lock file), not by timeout.
        var settings = new TestServerSettings
        {
            DatabasePath = database.Path,
            HeartbeatInterval = TimeSpan.FromMilliseconds(500),
            NodeTimeout = TimeSpan.FromSeconds(10),
        };
        await using var server1 = await ServerProcess.StartAsync(settings, "server1", output);
        await using var server2 = await ServerProcess.StartAsync(settings, "server2", output);
        await using var server3 = await ServerProcess.StartAsync(settings, "server3", output);

        var artifacts = Path.Combine(AppContext.BaseDirectory, "artifacts", "dashboard", $"{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid():N}"[..24]);
        List<string> arguments = [server1.Address.ToString(), server2.Address.ToString(), server3.Address.ToString(),
            server3.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), artifacts];
        if (run == 1 && Environment.GetEnvironmentVariable("SQLITEBACKPLANE_UPDATE_SCREENSHOTS") == "1")
        {
            arguments.Add(Path.Combine(RepositoryRoot.Path, "docs", "images", "dashboard.png"));
        }

        var result = await NodeScripts.RunAsync("browser-dashboard.mjs", arguments, ScriptTimeout, output);

        result.AssertPassed(
            "launched /usr/bin/chromium",
            "alice, bob and carol are connected to processes 1, 2 and 3",
            "the page lists three live nodes",
            "the page shows 3 online users of the TestHub, as the presence API does",
            "the rate chart shows up to",
            "the page's JS heap changed by",
            "killed process 3",
            "the killed node turned red",
            "the killed node was removed",
            "screenshots saved; no page errors");
        // The reason on the page is how the survivors reaped the node: by its lock file (event 40), else by timeout (event 5).
        var byLockFile = server1.Output.Contains("the kernel released its lock file", StringComparison.Ordinal)
            || server2.Output.Contains("the kernel released its lock file", StringComparison.Ordinal);
        Assert.Contains($"with the reason \"{(byLockFile ? "crash detected" : "timeout")}\"", result.Output, StringComparison.Ordinal);
        Assert.True(result.Artifacts.Count >= 2, "The script saved no screenshots.");
        foreach (var screenshot in result.Artifacts)
        {
            Assert.True(new FileInfo(screenshot) is { Exists: true, Length: > 0 }, $"Screenshot {screenshot} is missing or empty.");
            output.WriteLine($"Screenshot artifact: {screenshot}");
        }

        Assert.Equal(0, await server1.StopAsync());
        Assert.Equal(0, await server2.StopAsync());
    }
}

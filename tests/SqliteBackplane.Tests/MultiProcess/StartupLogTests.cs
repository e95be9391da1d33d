using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.MultiProcess;

/// <summary>What an operator reads when a server process cannot start: the problem and its fix, once.</summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
public sealed class StartupLogTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    [Fact]
    public async Task A_missing_directory_is_reported_once_with_its_fix()
    {
        var path = Path.Combine(Database.Directory, "no-such-dir", "backplane.db");

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => StartAsync(new TestServerSettings { DatabasePath = path }, "misconfigured"));

        // The failure message carries the server's whole output after "Output:".
        var serverOutput = failure.Message[(failure.Message.IndexOf("Output:", StringComparison.Ordinal) + "Output:".Length)..];
        var mentions = serverOutput.Split('\n').Count(line => line.Contains("does not exist", StringComparison.Ordinal));
        Assert.True(mentions == 1, $"The missing directory must be reported once, not {mentions} times:{Environment.NewLine}{serverOutput}");
        Assert.Contains($"the directory '{Path.GetDirectoryName(path)}' does not exist. Create the directory", serverOutput, StringComparison.Ordinal);
    }
}

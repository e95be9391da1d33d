using Microsoft.Extensions.Options;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.MultiProcess;

/// <summary>A relative Data Source names one file per app: it is resolved against the host's content root, not the working directory.</summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
public sealed class ContentRootTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    [Fact]
    public async Task Two_processes_started_from_different_directories_share_one_relative_file()
    {
        var fileName = Path.GetFileName(Database.Path);
        var settings = new TestServerSettings { DatabasePath = fileName, ContentRoot = Database.Directory };
        var first = await StartAsync(settings, "first", workingDirectory: Directory.CreateDirectory(Path.Combine(Database.Directory, "first")).FullName);
        var second = await StartAsync(settings, "second", workingDirectory: Directory.CreateDirectory(Path.Combine(Database.Directory, "second")).FullName);
        var sender = await ConnectAsync(first, "sender");
        var receiver = await ConnectAsync(second, "receiver");

        await sender.InvokeAsync(nameof(TestHub.SendUser), "receiver", "across working directories");

        await receiver.AssertReceivesAsync("across working directories");
        Assert.True(File.Exists(Database.Path), $"The backplane file must be in the content root ({Database.Path}).");
        Assert.False(File.Exists(Path.Combine(Database.Directory, "first", fileName)), "The first process created a file in its working directory.");
        Assert.Contains($"started on '{Database.Path}'", first.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Data Source=chat.db", "Data Source={root}/chat.db")]
    [InlineData("Data Source=data/chat.db;Cache=Shared", "Data Source={root}/data/chat.db;Cache=Shared")]
    [InlineData("Data Source=/var/lib/chat.db", "Data Source=/var/lib/chat.db")]
    [InlineData("Data Source=:memory:", "Data Source=:memory:")]
    [InlineData("Data Source=file:chat.db?mode=memory", "Data Source=file:chat.db?mode=memory")]
    public void In_a_host_only_a_relative_file_path_is_resolved_against_the_content_root(string configured, string expected)
    {
        var root = Database.Directory;
        expected = expected.Replace("{root}", root, StringComparison.Ordinal);
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = root });
        builder.Services.AddSignalR().AddSqliteBackplane(configured);
        using var host = builder.Build();

        // The post-configure steps only: validation (which rejects in-memory databases) is not what is tested here.
        var options = new SqliteBackplaneOptions { ConnectionString = configured };
        foreach (var postConfigure in host.Services.GetServices<IPostConfigureOptions<SqliteBackplaneOptions>>())
        {
            postConfigure.PostConfigure(Options.DefaultName, options);
        }

        Assert.Equal(expected, options.ConnectionString);
    }
}

using System.Diagnostics;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Microsoft.AspNetCore.SignalR.Client;
using SqliteBackplane.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Packaging;

/// <summary>
/// A new user's first build and start: a fresh <c>dotnet new web</c> app that references the packed library from a
/// local feed and follows the README quick start builds with <c>-warnaserror</c>, runs as two processes on one file,
/// carries a message between them, and logs no warning; with nothing else referenced, with EF Core Sqlite 10, and
/// with SQLitePCLRaw.bundle_e_sqlite3 3.x. Slow (restores and builds an app per variant), so one at a time.
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
[Trait(TestCategory.Name, TestCategory.Packaging)]
public sealed class ConsumerAppTests(PackedLibrary library, ITestOutputHelper output) : IClassFixture<PackedLibrary>
{
    /// <summary>The newest SQLitePCLRaw line; apps may reference it instead of the 2.1.x the package brings.</summary>
    private const string BundleV3Version = "3.0.5";

    public static TheoryData<string> Variants => new() { "nothing-else", "efcore-sqlite", "bundle-v3" };

    [Theory]
    [MemberData(nameof(Variants))]
    public async Task A_fresh_web_app_following_the_quick_start_builds_without_warnings_and_two_processes_exchange_messages(string variant)
    {
        var directory = Path.Combine(library.Root, variant);
        var app = Path.Combine(directory, "ConsumerApp");
        Directory.CreateDirectory(directory);
        var databasePath = Path.Combine(directory, "signalr.db");

        await Dotnet(directory, "new", "web", "-o", app, "-n", "ConsumerApp", "--no-restore");
        File.WriteAllText(Path.Combine(app, "nuget.config"), NuGetConfig(library.Feed));
        AddPackageReferences(Path.Combine(app, "ConsumerApp.csproj"), ExtraPackages(variant).Prepend(("SqliteBackplane", library.Version)));
        File.WriteAllText(Path.Combine(app, "Program.cs"), QuickStartProgram(databasePath));

        // --disable-build-servers: no MSBuild node or compiler server outlives the test holding its output open.
        var build = await Dotnet(app, "build", "-c", "Release", "-warnaserror", "--disable-build-servers", "-nologo");
        Assert.DoesNotMatch(new Regex(@": warning [A-Z]+\d+", RegexOptions.IgnoreCase), build);
        Assert.Contains(" 0 Warning(s)", build);

        var dll = Path.Combine(app, "bin", "Release", "net10.0", "ConsumerApp.dll");
        await using var first = await ConsumerAppProcess.StartAsync(dll, app, $"{variant} #1", output);
        await using var second = await ConsumerAppProcess.StartAsync(dll, app, $"{variant} #2", output);

        await using var alice = await Connect(first, "alice");
        await using var bob = await Connect(second, "bob");
        var atAlice = Receive(alice);
        var atBob = Receive(bob);

        await alice.InvokeAsync("Send", "alice", "hello from process 1").DefaultTimeout();
        Assert.Equal("alice: hello from process 1", await Next(atBob, "alice").DefaultTimeout());
        await bob.InvokeAsync("Send", "bob", "hello from process 2").DefaultTimeout();
        Assert.Equal("bob: hello from process 2", await Next(atAlice, "bob").DefaultTimeout());

        // The app runs the SQLite the variant asked for, a current one.
        using var http = new HttpClient { BaseAddress = first.Address };
        var versions = (await http.GetStringAsync("/sqlite").DefaultTimeout()).Split(' ');
        output.WriteLine($"{variant}: SQLite {versions[0]}, SQLitePCLRaw {versions[1]}");
        Assert.True(Version.Parse(versions[0]) >= new Version(3, 53), $"SQLite {versions[0]} is older than 3.53");
        Assert.StartsWith(variant == "bundle-v3" ? "3." : "2.1.", versions[1]);

        foreach (var process in new[] { first, second })
        {
            var warnings = process.Lines.Where(line => Regex.IsMatch(line, @"^\s*(warn|fail|crit):")).ToList();
            Assert.True(warnings.Count == 0, $"{process.Name} logged warnings:{Environment.NewLine}{string.Join(Environment.NewLine, warnings)}{Environment.NewLine}{process.Output}");
        }
    }

    private static IEnumerable<(string Id, string Version)> ExtraPackages(string variant) => variant switch
    {
        "efcore-sqlite" => [("Microsoft.EntityFrameworkCore.Sqlite", CentralVersion("Microsoft.EntityFrameworkCore.Sqlite"))],
        "bundle-v3" => [("SQLitePCLRaw.bundle_e_sqlite3", BundleV3Version)],
        _ => [],
    };

    /// <summary>A package version from the repository's Directory.Packages.props, so the test follows upgrades.</summary>
    private static string CentralVersion(string id) =>
        XDocument.Load(Path.Combine(RepositoryRoot.Path, "Directory.Packages.props"))
            .Descendants("PackageVersion").Single(e => (string?)e.Attribute("Include") == id).Attribute("Version")!.Value;

    private static void AddPackageReferences(string projectPath, IEnumerable<(string Id, string Version)> packages)
    {
        var project = XDocument.Load(projectPath);
        project.Root!.Add(new XElement("ItemGroup",
            packages.Select(p => new XElement("PackageReference", new XAttribute("Include", p.Id), new XAttribute("Version", p.Version)))));
        project.Save(projectPath);
    }

    /// <summary>The local feed beside the machine's own package sources (inherited, not cleared).</summary>
    private static string NuGetConfig(string feed) => $"""
        <?xml version="1.0" encoding="utf-8"?>
        <configuration>
          <packageSources>
            <add key="sqlitebackplane-local" value="{feed}" />
          </packageSources>
        </configuration>
        """;

    /// <summary>The README's quick start, plus an endpoint that tells which SQLite the process loaded.</summary>
    private static string QuickStartProgram(string databasePath) => $$"""
        using Microsoft.AspNetCore.SignalR;
        using Microsoft.Data.Sqlite;

        var builder = WebApplication.CreateBuilder(args);
        builder.Services.AddSignalR().AddSqliteBackplane("Data Source={{databasePath}}");

        var app = builder.Build();
        app.MapHub<ChatHub>("/chat");
        app.MapGet("/sqlite", () =>
        {
            using var connection = new SqliteConnection("Data Source=:memory:");
            connection.Open();
            return $"{connection.ServerVersion} {typeof(SQLitePCL.raw).Assembly.GetName().Version}";
        });
        app.Run();

        public class ChatHub : Hub
        {
            public Task Send(string user, string message) => Clients.All.SendAsync("Receive", user, message);
        }
        """;

    private async Task<string> Dotnet(string workingDirectory, params string[] arguments)
    {
        var started = Stopwatch.GetTimestamp();
        var result = await CommandRunner.RunAsync(TestServerLocation.DotnetHost, workingDirectory, PackedLibrary.CommandTimeout, arguments);
        output.WriteLine($"dotnet {string.Join(' ', arguments)}: exit {result.ExitCode} after {Stopwatch.GetElapsedTime(started).TotalSeconds:0.0} s");
        return result.EnsureSuccess($"dotnet {string.Join(' ', arguments)}").Output;
    }

    private static async Task<HubConnection> Connect(ConsumerAppProcess process, string user)
    {
        var connection = new HubConnectionBuilder().WithUrl(new Uri(process.Address, "/chat")).Build();
        await connection.StartAsync().DefaultTimeout($"{user} connecting to {process.Name}");
        return connection;
    }

    private static System.Threading.Channels.Channel<string> Receive(HubConnection connection)
    {
        var received = System.Threading.Channels.Channel.CreateUnbounded<string>();
        connection.On<string, string>("Receive", (user, message) => received.Writer.TryWrite($"{user}: {message}"));
        return received;
    }

    private static async Task<string> Next(System.Threading.Channels.Channel<string> received, string fromUser)
    {
        await foreach (var message in received.Reader.ReadAllAsync())
        {
            if (message.StartsWith(fromUser + ":", StringComparison.Ordinal))
            {
                return message;
            }
        }
        throw new InvalidOperationException("The channel closed.");
    }
}

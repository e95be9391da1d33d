using SqliteBackplane.Tests.Infrastructure;
using Xunit;

namespace SqliteBackplane.Tests.Packaging;

/// <summary>
/// The library packed once (for every variant of the consumer app tests) into a local feed in a temp directory, under
/// a version of its own so a restore can never pick up an older pack from the machine's package cache. That version
/// is removed from the cache again on dispose.
/// </summary>
public sealed class PackedLibrary : IAsyncLifetime
{
    public static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(5);

#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    public PackedLibrary()
    {
        Root = Path.Combine(Path.GetTempPath(), "sqlitebackplane-consumer", Guid.NewGuid().ToString("N"));
        Feed = Path.Combine(Root, "feed");
        Version = $"0.1.0-localtest.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
    }

    /// <summary>A temp directory outside the repository, so none of its Directory.*.props apply to the apps.</summary>
    public string Root { get; }

    /// <summary>The local feed holding SqliteBackplane.{Version}.nupkg.</summary>
    public string Feed { get; }

    public string Version { get; }

    public string PackOutput { get; private set; } = "";

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Feed);
        // The tests run after the solution is built (test.sh), so packing needs no build.
        var pack = await CommandRunner.RunAsync(
            TestServerLocation.DotnetHost, RepositoryRoot.Path, CommandTimeout,
            "pack", Path.Combine("src", "SqliteBackplane", "SqliteBackplane.csproj"), "--no-build", "-c", Configuration,
            "-o", Feed, $"-p:PackageVersion={Version}", "-nologo");
        PackOutput = pack.EnsureSuccess("dotnet pack of the library").Output;
    }

    public Task DisposeAsync()
    {
        TryDelete(Root);
        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        TryDelete(Path.Combine(packages, "sqlitebackplane", Version));
        return Task.CompletedTask;
    }

    private static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (IOException)
        {
            // Best effort: a temp directory.
        }
        catch (UnauthorizedAccessException)
        {
            // Best effort: a temp directory.
        }
    }
}

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>Finds the built SqliteBackplane.TestServer.dll and the dotnet host that runs it.</summary>
public static class TestServerLocation
{
    private const string AssemblyFileName = "SqliteBackplane.TestServer.dll";

    /// <summary>
    /// The TestServer assembly. The test project references the TestServer project, so the build copies it (with its
    /// runtimeconfig.json) next to the tests; the TestServer project's own output is the fallback.
    /// </summary>
    public static string AssemblyPath { get; } = FindAssembly();

    /// <summary>The dotnet executable: the one running the tests when known, else "dotnet" from PATH.</summary>
    public static string DotnetHost { get; } = FindDotnetHost();

    private static string FindAssembly()
    {
        var besideTests = Path.Combine(AppContext.BaseDirectory, AssemblyFileName);
        if (File.Exists(besideTests) && File.Exists(Path.ChangeExtension(besideTests, ".runtimeconfig.json")))
        {
            return besideTests;
        }

        // tests/SqliteBackplane.Tests/bin/<Configuration>/<tfm>/ -> tests/SqliteBackplane.TestServer/bin/<Configuration>/<tfm>/
        var outputDirectory = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var targetFramework = outputDirectory.Name;
        var configuration = outputDirectory.Parent!.Name;
        var testsDirectory = outputDirectory.Parent.Parent!.Parent!.Parent!.FullName;
        var sibling = Path.Combine(testsDirectory, "SqliteBackplane.TestServer", "bin", configuration, targetFramework, AssemblyFileName);
        return File.Exists(sibling)
            ? sibling
            : throw new FileNotFoundException($"Cannot find {AssemblyFileName} beside the tests ({besideTests}) or in the TestServer project's output ({sibling}). Build the solution first.");
    }

    private static string FindDotnetHost()
    {
        var fromSdk = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(fromSdk) && File.Exists(fromSdk))
        {
            return fromSdk;
        }
        var current = Environment.ProcessPath;
        if (current is not null && Path.GetFileNameWithoutExtension(current).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            return current;
        }
        return "dotnet";
    }
}

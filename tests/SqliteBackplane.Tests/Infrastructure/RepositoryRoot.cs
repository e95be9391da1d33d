namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>The repository checkout the tests were built from: the directory above the test build that holds SqliteBackplane.sln.</summary>
public static class RepositoryRoot
{
    /// <summary>The full path of the repository's root directory.</summary>
    public static string Path { get; } = Find();

    private static string Find()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(directory.FullName, "SqliteBackplane.sln")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException($"No SqliteBackplane.sln above {AppContext.BaseDirectory}.");
    }
}

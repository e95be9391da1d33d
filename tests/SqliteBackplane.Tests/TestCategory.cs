namespace SqliteBackplane.Tests;

/// <summary>
/// The <c>Category</c> trait that keeps slow tests out of the fast set. Every class in
/// <see cref="MultiProcessCollection"/> is <see cref="MultiProcess"/>; the others add what they need beyond processes.
/// The fast set (unit and single-process tests):
/// <c>dotnet test tests/SqliteBackplane.Tests --filter "Category!=MultiProcess&amp;Category!=Browser&amp;Category!=Packaging&amp;Category!=Soak&amp;Category!=Redis"</c>.
/// </summary>
public static class TestCategory
{
    /// <summary>The trait's name.</summary>
    public const string Name = "Category";

    /// <summary>
    /// Starts server processes or other programs. A class that starts servers also runs one at a time, in
    /// <see cref="MultiProcessCollection"/>; a single test that only runs a short-lived program carries just the trait.
    /// </summary>
    public const string MultiProcess = "MultiProcess";

    /// <summary>Drives Chromium.</summary>
    public const string Browser = "Browser";

    /// <summary>Packs the library and builds apps against the package.</summary>
    public const string Packaging = "Packaging";

    /// <summary>Runs a sustained load for a minute or more.</summary>
    public const string Soak = "Soak";

    /// <summary>Needs redis-server.</summary>
    public const string Redis = "Redis";
}

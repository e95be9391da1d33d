using System.Text.RegularExpressions;
using SqliteBackplane.Tests.Infrastructure;
using Xunit;

namespace SqliteBackplane.Tests.Core;

/// <summary>
/// The library's folders depend on each other one way (docs/architecture.md, "Folders"): Messaging on nothing
/// internal; Storage on Messaging; Delivery on Storage; Node on Delivery; the maintenance API on Storage only.
/// Checked on the source: the namespaces each folder's files import or name.
/// </summary>
public sealed partial class FolderDependencyTests
{
    private static readonly string Source = Path.Combine(RepositoryRoot.Path, "src", "SqliteBackplane");

    [Theory]
    [InlineData("Internal/Interop", "")]
    [InlineData("Internal/Messaging", "")]
    [InlineData("Internal/Storage", "Interop Messaging")]
    [InlineData("Internal/Delivery", "Interop Messaging Storage")]
    [InlineData("Internal/Node", "Interop Messaging Storage Delivery")]
    [InlineData("Maintenance", "Interop Messaging Storage")]
    [InlineData("Dashboard", "Interop Messaging Storage Delivery Node")]
    public void A_folder_uses_only_the_folders_below_it(string folder, string allowed)
    {
        var files = Directory.EnumerateFiles(Path.Combine(Source, folder), "*.cs").ToList();
        if (folder == "Maintenance")
        {
            // The public maintenance API sits at the root, by its namespace.
            files.AddRange(Directory.EnumerateFiles(Source, "SqliteBackplaneMaintenance*.cs"));
            files.Add(Path.Combine(Source, "SqliteBackplaneCompaction.cs"));
        }

        Assert.NotEmpty(files);
        var allowedFolders = allowed.Split(' ', StringSplitOptions.RemoveEmptyEntries).Append(Path.GetFileName(folder)).ToHashSet();
        var violations = (
            from file in files
            from match in InternalFolderReference().Matches(File.ReadAllText(file))
            let used = match.Groups[1].Value
            where !allowedFolders.Contains(used)
            select $"{Path.GetRelativePath(Source, file)} uses Internal.{used}").Distinct().ToList();

        Assert.True(violations.Count == 0, $"{folder} may use only {(allowed.Length == 0 ? "no other internal folder" : allowed)}:{Environment.NewLine}{string.Join(Environment.NewLine, violations)}");
    }

    [Fact]
    public void Nothing_outside_the_dashboard_uses_it()
    {
        var dashboard = Path.Combine(Source, "Dashboard");
        var users = Directory.EnumerateFiles(Source, "*.cs", SearchOption.AllDirectories)
            .Where(file => !file.StartsWith(dashboard + Path.DirectorySeparatorChar, StringComparison.Ordinal)
                && !file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && File.ReadAllText(file).Contains("SqliteBackplane.Dashboard", StringComparison.Ordinal))
            .Select(file => Path.GetRelativePath(Source, file))
            .ToList();

        Assert.True(users.Count == 0, $"The dashboard sits on top: nothing else may use it, but {string.Join(", ", users)} does.");
    }

    // using SqliteBackplane.Internal.Storage; or a qualified SqliteBackplane.Internal.Storage.X / Internal.Storage.X
    [GeneratedRegex(@"\bInternal\.(Interop|Messaging|Storage|Delivery|Node)\b")]
    private static partial Regex InternalFolderReference();
}

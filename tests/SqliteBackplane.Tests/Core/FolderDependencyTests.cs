using System.Text.RegularExpressions;
using SqliteBackplane.Tests.Infrastructure;
using Xunit;

namespace SqliteBackplane.Tests.Core;

/// <summary>
/// The library's folders depend on each other one way (docs/architecture.md, "Folders"), checked on the source: the
/// namespaces each folder's files import or name. Every folder of src/SqliteBackplane is in the table, and the
/// table in the docs lists the same folders.
/// </summary>
public sealed partial class FolderDependencyTests
{
    private static readonly string Source = Path.Combine(RepositoryRoot.Path, "src", "SqliteBackplane");

    /// <summary>Each folder (relative to src/SqliteBackplane) and the folders it may use; "." is the public root.</summary>
    public static readonly TheoryData<string, string> Layers = new()
    {
        { "Internal/Diagnostics", "" },
        { "Internal/Interop", "" },
        { "Internal/Messaging", "" },
        { "Internal/Flow", "Diagnostics Messaging" },
        { "Internal/Hosting", "Diagnostics" },
        { "Internal/Storage", "Diagnostics Flow Interop Messaging" },
        { "Internal/Configuration", "Diagnostics Flow Messaging Storage" },
        { "Internal/Delivery", "Diagnostics Flow Interop Messaging Storage" },
        { "Internal/Node", "Configuration Delivery Diagnostics Flow Hosting Interop Messaging Storage" },
        { "Maintenance", "Configuration Diagnostics Interop Messaging Storage" },
        { "Health", "Diagnostics Hosting Node Storage" },
        { "Presence", "Diagnostics Messaging Node Storage" },
        { "Dashboard", "Configuration Delivery Diagnostics Flow Health Interop Maintenance Messaging Node Presence Storage" },
        { ".", "Configuration Delivery Diagnostics Flow Health Hosting Interop Maintenance Messaging Node Presence Storage" },
    };

    [Theory]
    [MemberData(nameof(Layers))]
    public void A_folder_uses_only_the_folders_below_it(string folder, string allowed)
    {
        var files = Directory.EnumerateFiles(Path.Combine(Source, folder), "*.cs").ToList();
        Assert.NotEmpty(files);
        var allowedFolders = allowed.Split(' ', StringSplitOptions.RemoveEmptyEntries).Append(Path.GetFileName(folder)).ToHashSet();
        var violations = (
            from file in files
            from match in FolderReference().Matches(File.ReadAllText(file))
            let used = match.Groups[1].Success ? match.Groups[1].Value : match.Groups[2].Value
            where !allowedFolders.Contains(used)
            select $"{Path.GetRelativePath(Source, file)} uses {used}").Distinct().ToList();

        Assert.True(violations.Count == 0, $"{folder} may use only {(allowed.Length == 0 ? "no other folder" : allowed)}:{Environment.NewLine}{string.Join(Environment.NewLine, violations)}");
    }

    [Fact]
    public void Every_folder_with_code_is_in_the_layer_table_and_in_the_docs()
    {
        var listed = Layers.Select(row => (string)row[0]).ToHashSet();
        var folders = Directory.EnumerateFiles(Source, "*.cs", SearchOption.AllDirectories)
            .Where(file => !IsBuildOutput(file))
            .Select(file => Path.GetRelativePath(Source, Path.GetDirectoryName(file)!).Replace('\\', '/'))
            .ToHashSet();

        Assert.Empty(folders.Except(listed));
        var architecture = File.ReadAllText(Path.Combine(RepositoryRoot.Path, "docs", "architecture.md"));
        Assert.All(listed.Where(folder => folder != "."), folder => Assert.Contains($"| `{folder}` |", architecture));
    }

    private static bool IsBuildOutput(string file)
    {
        var relative = Path.GetRelativePath(Source, file).Replace('\\', '/');
        return relative.StartsWith("bin/", StringComparison.Ordinal) || relative.StartsWith("obj/", StringComparison.Ordinal);
    }

    // using SqliteBackplane.Internal.Storage; a qualified Internal.Storage.X; or SqliteBackplane.Presence and the like.
    [GeneratedRegex(@"\bInternal\.(Configuration|Delivery|Diagnostics|Flow|Hosting|Interop|Messaging|Node|Storage)\b|\bSqliteBackplane\.(Dashboard|Health|Maintenance|Presence)\b")]
    private static partial Regex FolderReference();
}

using System.Text.RegularExpressions;
using SqliteBackplane.Tests.Infrastructure;
using Xunit;

namespace SqliteBackplane.Tests.Core;

/// <summary>
/// The shape of the library's source files (docs/architecture.md): small files with one job each, split by
/// responsibility rather than by line count. No file under src/ passes <see cref="MaxLines"/> lines, and a type is
/// declared <c>partial</c> only where a source generator writes its other half (source-generated logging, regexes,
/// JSON contexts, options validators, P/Invoke stubs), never to spread one class over several files.
/// </summary>
public sealed partial class SourceFileShapeTests
{
    /// <summary>The most lines a source file may have.</summary>
    public const int MaxLines = 400;

    private static readonly string Source = Path.Combine(RepositoryRoot.Path, "src");

    [Fact]
    public void Every_source_file_is_under_the_line_limit()
    {
        var tooLong = (
            from file in SourceFiles()
            let lines = File.ReadAllLines(file).Length
            where lines > MaxLines
            select $"{Path.GetRelativePath(RepositoryRoot.Path, file)}: {lines} lines").ToList();

        Assert.True(tooLong.Count == 0,
            $"These files pass {MaxLines} lines; split each by responsibility (one job per file), not in halves:{Environment.NewLine}{string.Join(Environment.NewLine, tooLong)}");
    }

    [Fact]
    public void A_type_is_partial_only_for_a_source_generator()
    {
        var unexplained = (
            from file in SourceFiles()
            let text = File.ReadAllText(file)
            where PartialType().IsMatch(text) && !GeneratorAttribute().IsMatch(text)
            select Path.GetRelativePath(RepositoryRoot.Path, file)).ToList();

        Assert.True(unexplained.Count == 0,
            "These files declare a partial type but no source-generated member ([LoggerMessage], [GeneratedRegex], [JsonSerializable], " +
            "[OptionsValidator], [LibraryImport]); give each part its own class with its own job instead:" +
            $"{Environment.NewLine}{string.Join(Environment.NewLine, unexplained)}");
    }

    [Fact]
    public void The_checks_see_the_library_source()
    {
        // Guards the two checks above against passing on an empty or misplaced folder.
        Assert.Contains(SourceFiles(), file => file.EndsWith("SqliteHubLifetimeManager.cs", StringComparison.Ordinal));
        Assert.Contains(SourceFiles(), file => PartialType().IsMatch(File.ReadAllText(file)));
    }

    private static List<string> SourceFiles() =>
        Directory.EnumerateFiles(Source, "*.cs", SearchOption.AllDirectories).Where(file => !IsBuildOutput(file)).ToList();

    private static bool IsBuildOutput(string file) =>
        Path.GetRelativePath(Source, file).Replace('\\', '/').Split('/').Any(part => part is "bin" or "obj");

    [GeneratedRegex(@"\bpartial\s+(?:class|struct|record|interface)\b")]
    private static partial Regex PartialType();

    [GeneratedRegex(@"\[(?:LoggerMessage|GeneratedRegex|JsonSerializable|OptionsValidator|LibraryImport|GeneratedComInterface)\b")]
    private static partial Regex GeneratorAttribute();
}

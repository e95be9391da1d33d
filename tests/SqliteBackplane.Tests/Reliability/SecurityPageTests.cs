using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Tests.Infrastructure;
using Xunit;
using SqliteBackplane.Internal.Configuration;

namespace SqliteBackplane.Tests.Reliability;

/// <summary>
/// docs/security.md makes claims an operator relies on; each claim that can be checked against the product is: the
/// tables it lists are the tables the schema creates, the defaults and limits it states are the code's, and the
/// tests and source files it cites as evidence exist.
/// </summary>
public sealed partial class SecurityPageTests
{
    private static readonly string Page = File.ReadAllText(Path.Combine(RepositoryRoot.Path, "docs", "security.md"));

    [Fact]
    public void The_page_lists_exactly_the_tables_the_schema_creates()
    {
        var documented = DocumentedTable().Matches(Page).Select(m => m.Groups[1].Value).Order().ToList();

        using var connection = new SqliteConnection("Data Source=:memory:");
        connection.Open();
        RawSqlite.Execute(connection, new SqliteQueries("p_").CreateSchema);
        var created = new List<string>();
        using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'p\\_%' ESCAPE '\\' ORDER BY name";
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                created.Add(reader.GetString(0)["p_".Length..]);
            }
        }

        Assert.NotEmpty(documented);
        Assert.Equal(created.Order(), documented);
    }

    [Fact]
    public void The_defaults_the_page_states_are_the_options_defaults()
    {
        var stated = StatedDefault().Matches(Page).ToList();
        var defaults = new SqliteBackplaneOptions();

        Assert.NotEmpty(stated);
        foreach (var match in stated)
        {
            var property = typeof(SqliteBackplaneOptions).GetProperty(match.Groups[1].Value);
            Assert.True(property is not null, $"docs/security.md states a default for '{match.Groups[1].Value}', which is not an option.");
            Assert.Equal(TimeSpan.FromSeconds(int.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture)), property.GetValue(defaults));
        }
    }

    [Fact]
    public void Every_option_the_page_names_exists()
    {
        var named = NamedOption().Matches(Page).Select(m => m.Groups[1].Value).Distinct().ToList();

        Assert.NotEmpty(named);
        Assert.All(named, name => Assert.True(typeof(SqliteBackplaneOptions).GetProperty(name) is not null, $"docs/security.md names SqliteBackplaneOptions.{name}, which does not exist."));
    }

    [Fact]
    public void The_table_prefix_rule_the_page_states_is_the_one_the_validator_enforces()
    {
        // "it must start with a letter or underscore and contain only ASCII letters, digits and underscores (at most 64 characters)"
        var rule = PrefixRule().Match(Page);
        Assert.True(rule.Success, "docs/security.md no longer states the table prefix rule.");
        var maxLength = int.Parse(rule.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

        Assert.All(new[] { "a", "_", "Z9_", "app_", new string('a', maxLength) }, prefix => Assert.True(IsAccepted(prefix), $"The validator rejects '{prefix}', which the page allows."));
        Assert.All(new[] { "", "9a", "a-b", "a b", "a\"b", "a;b", "é", new string('a', maxLength + 1) }, prefix => Assert.False(IsAccepted(prefix), $"The validator accepts '{prefix}', which the page forbids."));
    }

    [Fact]
    public void The_tests_and_files_the_page_cites_exist()
    {
        var tests = typeof(SecurityPageTests).Assembly.GetTypes();
        var cited = CitedTest().Matches(Page).ToList();
        Assert.NotEmpty(cited);
        foreach (var match in cited)
        {
            var (folder, type, method) = (match.Groups[1].Value, match.Groups[2].Value, match.Groups[3].Value);
            var testClass = tests.SingleOrDefault(t => t.FullName == $"SqliteBackplane.Tests.{folder}.{type}");
            Assert.True(testClass is not null, $"docs/security.md cites {folder}/{type}, which is not a test class.");
            if (method.Length > 0)
            {
                var test = testClass.GetMethod(method);
                Assert.True(test?.GetCustomAttributes<FactAttribute>().Any() == true, $"docs/security.md cites {folder}/{type}.{method}, which is not a test.");
            }
        }

        foreach (var file in CitedSourceFile().Matches(Page).Select(m => m.Groups[1].Value))
        {
            Assert.True(File.Exists(Path.Combine(RepositoryRoot.Path, "src", "SqliteBackplane", file)), $"docs/security.md cites {file}, which is not in src/SqliteBackplane.");
        }
    }

    private static bool IsAccepted(string prefix) =>
        !SqliteBackplaneOptionsValidator.Check(new SqliteBackplaneOptions { TablePrefix = prefix }).Any(f => f.Contains("TablePrefix", StringComparison.Ordinal));

    // A row of the "What it contains" table: | `{prefix}messages` | ...
    [GeneratedRegex(@"^\| `\{prefix\}(\w+)` \|", RegexOptions.Multiline)]
    private static partial Regex DocumentedTable();

    // `MessageExpiry` (60 s by default)
    [GeneratedRegex(@"`(\w+)` \((\d+) s by default\)")]
    private static partial Regex StatedDefault();

    [GeneratedRegex(@"`SqliteBackplaneOptions\.(\w+)`")]
    private static partial Regex NamedOption();

    [GeneratedRegex(@"\(at most (\d+) characters\)")]
    private static partial Regex PrefixRule();

    // `Core/StartupErrorTests.New_database_file_is_readable_by_its_owner_only` or `Reliability/SecurityTests`
    [GeneratedRegex(@"`(\w+)/(\w+Tests)(?:\.(\w+))?`")]
    private static partial Regex CitedTest();

    // `Internal/Storage/SqliteQueries.cs`
    [GeneratedRegex(@"`((?:\w+/)*\w+\.cs)`")]
    private static partial Regex CitedSourceFile();
}

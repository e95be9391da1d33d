using System.Reflection;
using System.Text.RegularExpressions;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Reliability;

/// <summary>
/// SQL is parameterized everywhere and identifiers come only from the validated prefix; the backplane's files are
/// readable by their owner only (docs/security.md). Core/StartupErrorTests checks the database and -wal modes; this
/// adds -shm and the writers' lock file, and hostile strings as data.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed partial class SecurityTests
{
    private const string Prefix = "zq_prefix_";

    [Fact]
    public void Every_statement_binds_its_data_as_parameters_and_interpolates_only_the_table_prefix()
    {
        // SqliteQueries is built from the prefix alone: with two prefixes, every statement must be the same text but for
        // the prefix, every double-quoted identifier must be built from it, and no method may build SQL from arguments.
        var first = Statements(new SqliteQueries(Prefix));
        var second = Statements(new SqliteQueries(OtherPrefix));
        Assert.True(first.Count > 20, $"Found only {first.Count} statements in SqliteQueries.");
        foreach (var (name, sql) in first)
        {
            Assert.Equal(sql.Replace(Prefix, "<prefix>", StringComparison.Ordinal), second[name].Replace(OtherPrefix, "<prefix>", StringComparison.Ordinal));
            foreach (Match identifier in QuotedIdentifier().Matches(sql))
            {
                Assert.True(identifier.Groups[1].Value.StartsWith(Prefix, StringComparison.Ordinal),
                    $"SqliteQueries.{name} quotes the identifier \"{identifier.Groups[1].Value}\", which is not built from the table prefix.");
            }
        }

        var builders = typeof(SqliteQueries).GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
            .Where(m => !m.IsSpecialName && m.ReturnType == typeof(string) && m.GetParameters().Length > 0)
            .Select(m => m.Name)
            .ToList();
        Assert.True(builders.Count == 0, $"SqliteQueries builds SQL from arguments in: {string.Join(", ", builders)}; bind data as parameters instead.");
    }

    private const string OtherPrefix = "other_";

    private static Dictionary<string, string> Statements(SqliteQueries queries) =>
        typeof(SqliteQueries).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.PropertyType == typeof(string) && p.Name != nameof(SqliteQueries.TablePrefix))
            .Select(p => (p.Name, Sql: (string)p.GetValue(queries)!))
            .Concat(typeof(SqliteQueries).GetFields(BindingFlags.Public | BindingFlags.Static)
                .Where(f => f.IsLiteral && f.FieldType == typeof(string))
                .Select(f => (f.Name, Sql: (string)f.GetRawConstantValue()!)))
            .ToDictionary(x => x.Name, x => x.Sql);

    [Fact]
    public void Source_builds_SQL_text_only_from_SqliteQueries_or_constant_strings()
    {
        var sourceRoot = Path.Combine(RepositoryRoot.Path, "src", "SqliteBackplane");
        var offenders = new List<string>();
        foreach (var file in Directory.EnumerateFiles(sourceRoot, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.EndsWith("SqliteQueries.cs", StringComparison.Ordinal)))
        {
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                // An interpolated or concatenated string that looks like SQL, outside SqliteQueries.
                if (SqlOutsideQueries().IsMatch(lines[i]))
                {
                    offenders.Add($"{Path.GetRelativePath(sourceRoot, file)}:{i + 1}: {lines[i].Trim()}");
                }
            }
        }

        Assert.True(offenders.Count == 0, "SQL built outside SqliteQueries from non-constant text:" + Environment.NewLine + string.Join(Environment.NewLine, offenders));
    }

    [Fact]
    public async Task Hostile_strings_are_stored_as_data()
    {
        const string hostile = "x'); DROP TABLE signalr_messages; --\"; DELETE FROM signalr_groups; --";
        using var database = new TempDatabase();
        using var first = DirectManagers.Create(database);
        using var second = DirectManagers.Create(database);
        await using var client = new FakeClient(userId: hostile);
        await second.OnConnectedAsync(client.Connection).DefaultTimeout();

        await first.AddToGroupAsync(client.ConnectionId, hostile).DefaultTimeout();
        await first.SendGroupAsync(hostile, ClientMethods.Receive, [hostile]).DefaultTimeout();
        await first.SendUserAsync(hostile, ClientMethods.Receive, ["to the user"]).DefaultTimeout();
        await Assert.ThrowsAsync<IOException>(() => first.InvokeConnectionAsync<int>(hostile, ClientMethods.Compute, [1], CancellationToken.None)).DefaultTimeout();

        await client.AssertReceivesAsync(hostile);
        await client.AssertReceivesAsync("to the user");
        Assert.Equal(1L, RawSqlite.Scalar(database.Path, "SELECT count(*) FROM signalr_groups WHERE group_name = $g", ("$g", hostile)));
        Assert.Equal(1L, RawSqlite.Scalar(database.Path, "SELECT count(*) FROM signalr_connections WHERE user_id = $u", ("$u", hostile)));
        Assert.True(RawSqlite.Scalar(database.Path, "SELECT count(*) FROM signalr_messages") > 0);
    }

    [Fact]
    public async Task The_database_its_wal_and_shm_and_the_lock_file_are_readable_by_their_owner_only()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database);
        await using var client = new FakeClient();
        await manager.OnConnectedAsync(client.Connection).DefaultTimeout();
        await manager.SendAllAsync(ClientMethods.Receive, ["written"]).DefaultTimeout();
        await client.AssertReceivesAsync("written");

        const UnixFileMode ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        foreach (var suffix in new[] { "", "-wal", "-shm", "-backplane.lock" })
        {
            var path = database.Path + suffix;
            Assert.True(File.Exists(path), $"{path} does not exist.");
            Assert.True(File.GetUnixFileMode(path) == ownerOnly, $"{path} has mode {File.GetUnixFileMode(path)}; expected owner read/write only.");
        }
    }

    [GeneratedRegex("\"([^\"]*)\"")]
    private static partial Regex QuotedIdentifier();

    // $"...SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|PRAGMA ...{" or "..." + variable, for SQL-looking strings.
    [GeneratedRegex(@"(\$""[^""]*\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA|ATTACH)\b[^""]*\{)|(""[^""]*\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA|ATTACH)\b[^""]*""\s*\+)", RegexOptions.CultureInvariant)]
    private static partial Regex SqlOutsideQueries();
}

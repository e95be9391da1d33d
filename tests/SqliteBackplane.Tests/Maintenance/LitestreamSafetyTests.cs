using System.Collections.Concurrent;
using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using SqliteBackplane.Cli;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using SqliteBackplane.Maintenance;

namespace SqliteBackplane.Tests.Maintenance;

/// <summary>
/// "Litestream-safe by default" (issue 5, design property 7): the statements the library issues never include an
/// in-place VACUUM, a TRUNCATE/RESTART/FULL checkpoint, a journal mode other than WAL, exclusive locking, a journal size
/// limit, automatic checkpoints or DROP; and the database, -wal and -shm files are never deleted or replaced.
/// The main test intercepts the statements SQLite actually runs during a real workload; the others scan the SQL text.
/// </summary>
public class LitestreamSafetyTests
{
    /// <summary>What a replicator cannot follow, as patterns over one SQL statement (or several separated by ';').</summary>
    internal static readonly (string Rule, Regex Pattern)[] Forbidden =
    [
        ("in-place VACUUM", Sql(@"(^|;)\s*VACUUM\b(?!\s+(""?\w+""?\s+)?INTO\b)")),
        ("a TRUNCATE, RESTART or FULL checkpoint", Sql(@"wal_checkpoint\s*\(\s*'?(TRUNCATE|RESTART|FULL)\b")),
        ("a journal mode other than WAL", Sql(@"journal_mode\s*=(?>\s*)(?!'?WAL\b)")),
        ("exclusive locking mode", Sql(@"locking_mode\s*=\s*'?EXCLUSIVE\b")),
        ("a journal size limit (it truncates the WAL)", Sql(@"journal_size_limit\s*=")),
        ("automatic checkpoints", Sql(@"wal_autocheckpoint\s*=(?>\s*)(?!0\b)")),
        ("DROP", Sql(@"(^|;)\s*DROP\b")),
    ];

    private static Regex Sql(string pattern) => new(pattern, RegexOptions.IgnoreCase | RegexOptions.Multiline | RegexOptions.CultureInvariant);

    private static void AssertAllowed(IEnumerable<string> statements, string where)
    {
        var violations = (from statement in statements
                          from rule in Forbidden
                          where rule.Pattern.IsMatch(statement)
                          select $"{rule.Rule}: {statement}").Distinct().ToList();
        Assert.True(violations.Count == 0, $"{where} issued statements a replicator cannot follow:{Environment.NewLine}{string.Join(Environment.NewLine, violations)}");
    }

    [Fact]
    public async Task The_statements_SQLite_runs_for_the_library_during_a_full_workload_are_all_replicator_safe()
    {
        using var database = new TempDatabase();
        using var trace = SqliteStatementTrace.Start(database.Path);
        var removedFiles = new ConcurrentQueue<string>();
        var protectedNames = new[] { "backplane.db", "backplane.db-wal", "backplane.db-shm" };

        void Configure(SqliteBackplaneOptions o)
        {
            // Heartbeats fast enough that cleanup and the passive checkpoint (every fifth heartbeat) run within a second.
            o.HeartbeatInterval = TimeSpan.FromMilliseconds(200);
            o.NodeTimeout = TimeSpan.FromSeconds(5);
            o.MessageExpiry = TimeSpan.FromSeconds(1);
        }

        var first = DirectManagers.Create(database, Configure);
        await first.Node.EnsureStartedAsync().DefaultTimeout();

        // As Litestream does, hold a read transaction open beside the application for the whole run. (Without one, the
        // last connection to close would checkpoint and delete the WAL: SQLite's own behaviour, not a library statement.)
        using var replicator = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = database.Path, Pooling = false }.ToString());
        replicator.Open();
        using var readLock = replicator.BeginTransaction(deferred: true);
        using (var read = replicator.CreateCommand())
        {
            read.Transaction = readLock;
            read.CommandText = "SELECT count(*) FROM sqlite_master";
            read.ExecuteScalar();
        }

        using var watcher = new FileSystemWatcher(database.Directory) { NotifyFilter = NotifyFilters.FileName, IncludeSubdirectories = false };
        watcher.Deleted += (_, e) => { if (protectedNames.Contains(e.Name)) { removedFiles.Enqueue($"deleted {e.Name}"); } };
        watcher.Renamed += (_, e) => { if (protectedNames.Contains(e.OldName) || protectedNames.Contains(e.Name)) { removedFiles.Enqueue($"renamed {e.OldName} -> {e.Name}"); } };
        watcher.EnableRaisingEvents = true;

        var second = DirectManagers.Create(database, Configure);
        await using var alice = new FakeClient(userId: "alice");
        await using var bob = new FakeClient(userId: "bob");
        await first.OnConnectedAsync(alice.Connection).DefaultTimeout();
        await second.OnConnectedAsync(bob.Connection).DefaultTimeout();
        await second.AddToGroupAsync(alice.ConnectionId, "room").DefaultTimeout();
        await first.SendAllAsync(ClientMethods.Receive, ["all"]).DefaultTimeout();
        await second.SendGroupAsync("room", ClientMethods.Receive, ["group"]).DefaultTimeout();
        await first.SendUserAsync("bob", ClientMethods.Receive, ["user"]).DefaultTimeout();
        await second.SendConnectionAsync(alice.ConnectionId, ClientMethods.Receive, ["direct"]).DefaultTimeout();
        await Assert.ThrowsAsync<IOException>(() => first.InvokeConnectionAsync<int>("nobody", ClientMethods.Compute, [1])).DefaultTimeout();
        await second.RemoveFromGroupAsync(alice.ConnectionId, "room").DefaultTimeout();

        // Let the nodes' own maintenance run: heartbeats, reaping, expired-row cleanup and the periodic checkpoint.
        await Eventually.BecomesTrueAsync(
            () => trace.Statements.Any(s => s.Contains("wal_checkpoint", StringComparison.OrdinalIgnoreCase)) &&
                  trace.Statements.Any(s => s.StartsWith("DELETE FROM \"signalr_messages\"", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(15), "the nodes have run their cleanup and checkpoint");

        // The maintenance API and the tool, on the same file while the nodes run.
        SqliteStatementTrace.Suppress(() =>
        {
            // Silent for 3 s: dead to maintenance with a 1 s timeout, not yet to the nodes' own 5 s reaper.
            BackplaneFile.Create(database).InsertNode("crashed", heartbeatAtMs: DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 3_000, connections: 1, groupsPerConnection: 1);
            return 0;
        });
        var maintenance = new SqliteBackplaneMaintenance(new SqliteBackplaneOptions
        {
            ConnectionString = database.ConnectionString,
            HeartbeatInterval = TimeSpan.FromMilliseconds(500),
            NodeTimeout = TimeSpan.FromSeconds(1),
        });
        await maintenance.Statistics.GetStatisticsAsync().DefaultTimeout();
        await maintenance.Cleanup.DeleteExpiredMessagesAsync().DefaultTimeout();
        Assert.Contains(await maintenance.Cleanup.DeleteDeadNodesAsync().DefaultTimeout(), n => n.NodeId == "crashed");
        await maintenance.Compaction.CompactIntoAsync(Path.Combine(database.Directory, "copy.db"), force: true).DefaultTimeout();
        Assert.Equal(ExitCodes.Success, await CliApp.RunAsync(["tail", "--db", database.Path, "--last", "1", "--count", "1"], TextWriter.Null, TextWriter.Null, CancellationToken.None).DefaultTimeout());
        Assert.Equal(ExitCodes.Success, await CliApp.RunAsync(["clean", "--db", database.Path], TextWriter.Null, TextWriter.Null, CancellationToken.None).DefaultTimeout());

        // Graceful shutdown removes each node's rows.
        second.Dispose();
        first.Dispose();
        await Eventually.BecomesTrueAsync(() => RawSqlite.Scalar(database, "SELECT count(*) FROM signalr_nodes") == 0, TimeSpan.FromSeconds(15), "both nodes have removed their rows");
        // File events arrive in order: once a marker's deletion is reported, every earlier change has been seen.
        var marker = Path.Combine(database.Directory, "events-flushed.marker");
        var flushed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        watcher.Deleted += (_, e) => { if (e.Name == Path.GetFileName(marker)) { flushed.TrySetResult(); } };
        File.WriteAllText(marker, "");
        File.Delete(marker);
        await flushed.Task.DefaultTimeout("the file watcher to report the marker's deletion");
        watcher.EnableRaisingEvents = false;

        var statements = trace.Statements;
        // The interception saw the library's own connections (writer, reader, query thread) and the maintenance API's.
        Assert.Contains(statements, s => s == SqliteQueries.EnableWal);
        Assert.Contains(statements, s => s.StartsWith("INSERT INTO \"signalr_messages\"", StringComparison.Ordinal));
        Assert.Contains(statements, s => s.StartsWith("SELECT id, hub, kind", StringComparison.Ordinal));
        Assert.Contains(statements, s => s == SqliteQueries.PassiveCheckpoint);
        Assert.Contains(statements, s => s.StartsWith("UPDATE \"signalr_nodes\" SET heartbeat_at", StringComparison.Ordinal));
        Assert.Contains(statements, s => s.StartsWith("DELETE FROM \"signalr_nodes\"", StringComparison.Ordinal));
        Assert.Contains(statements, s => s == SqliteQueries.VacuumInto);
        AssertAllowed(statements, "The library");

        Assert.Empty(removedFiles);
        Assert.True(File.Exists(database.Path));
        Assert.True(File.Exists(database.Path + "-wal"));
        Assert.True(File.Exists(database.Path + "-shm"));
    }

    [Fact]
    public void Every_statement_in_SqliteQueries_is_replicator_safe()
    {
        var queries = new SqliteQueries("signalr_");
        var statements = typeof(SqliteQueries).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.PropertyType == typeof(string))
            .Select(p => (string)p.GetValue(queries)!)
            .Concat(typeof(SqliteQueries).GetFields(BindingFlags.Public | BindingFlags.Static)
                .Where(f => f.IsLiteral && f.FieldType == typeof(string))
                .Select(f => (string)f.GetRawConstantValue()!))
            .ToList();

        Assert.True(statements.Count > 30, $"Found only {statements.Count} statements.");
        AssertAllowed(statements, "SqliteQueries");
    }

    [Fact]
    public void Every_SQL_string_literal_in_the_library_source_is_replicator_safe()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "SqliteBackplane.sln")))
        {
            root = root.Parent;
        }

        Assert.NotNull(root);
        var sources = Directory.EnumerateFiles(Path.Combine(root.FullName, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                     && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToList();
        var literal = new Regex("\"\"\"(?<text>.*?)\"\"\"|\"(?<text>(?:[^\"\\\\\\n]|\\\\.)*)\"", RegexOptions.Singleline);
        var looksLikeSql = Sql(@"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA|VACUUM|BEGIN|COMMIT|ROLLBACK|ATTACH|DETACH)\b");
        var statements = sources
            .SelectMany(f => literal.Matches(File.ReadAllText(f)).Select(m => m.Groups["text"].Value))
            .Where(text => looksLikeSql.IsMatch(text))
            .ToList();

        Assert.True(statements.Count > 10, $"Found only {statements.Count} SQL literals in {sources.Count} files.");
        AssertAllowed(statements, "A string literal in src/");
    }

    [Theory]
    [InlineData("VACUUM")]
    [InlineData("vacuum;")]
    [InlineData("VACUUM main")]
    [InlineData("SELECT 1; VACUUM")]
    [InlineData("PRAGMA wal_checkpoint(TRUNCATE)")]
    [InlineData("PRAGMA main.wal_checkpoint( restart )")]
    [InlineData("PRAGMA wal_checkpoint(FULL)")]
    [InlineData("PRAGMA journal_mode = DELETE")]
    [InlineData("PRAGMA journal_mode=memory")]
    [InlineData("PRAGMA locking_mode = EXCLUSIVE")]
    [InlineData("PRAGMA journal_size_limit = 0")]
    [InlineData("PRAGMA wal_autocheckpoint = 1000")]
    [InlineData("DROP TABLE \"signalr_messages\"")]
    public void The_rules_catch_forbidden_statements(string statement) =>
        Assert.Contains(Forbidden, rule => rule.Pattern.IsMatch(statement));

    [Theory]
    [InlineData("VACUUM INTO $path")]
    [InlineData("VACUUM main INTO '/tmp/copy.db'")]
    [InlineData("PRAGMA wal_checkpoint(PASSIVE)")]
    [InlineData("PRAGMA journal_mode = WAL")]
    [InlineData("PRAGMA wal_autocheckpoint = 0")]
    [InlineData("DELETE FROM \"signalr_messages\" WHERE id IN (SELECT id FROM \"signalr_messages\" WHERE expires_at < $now ORDER BY id LIMIT $limit)")]
    public void The_rules_allow_what_the_library_needs(string statement) =>
        Assert.DoesNotContain(Forbidden, rule => rule.Pattern.IsMatch(statement));
}

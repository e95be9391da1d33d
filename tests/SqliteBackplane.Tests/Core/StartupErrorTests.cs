using System.Diagnostics;
using Microsoft.Data.Sqlite;
using SqliteBackplane.Tests.Infrastructure;
using Xunit;

namespace SqliteBackplane.Tests.Core;

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class StartupErrorTests
{
    [Fact]
    public async Task Missing_directory_names_the_directory_and_the_fix()
    {
        using var database = new TempDatabase();
        var path = Path.Combine(database.Directory, "no-such-dir", "backplane.db");
        using var manager = DirectManagers.Create(database, o => o.ConnectionString = $"Data Source={path}");

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => manager.Node.EnsureStartedAsync()).DefaultTimeout();

        Assert.Contains($"'{path}'", ex.Message);
        Assert.Contains($"the directory '{Path.GetDirectoryName(path)}' does not exist", ex.Message);
        Assert.Contains("Create the directory", ex.Message);
    }

    [Fact]
    public async Task File_that_is_not_a_database_is_reported_and_left_untouched()
    {
        using var database = new TempDatabase();
        var contents = new byte[4096];
        new Random(1).NextBytes(contents);
        File.WriteAllBytes(database.Path, contents);
        using var manager = DirectManagers.Create(database);

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => manager.Node.EnsureStartedAsync()).DefaultTimeout();

        Assert.Equal($"'{database.Path}' is not a SQLite database (or is encrypted or corrupt). Point the backplane at a new file or at an existing SQLite database.", ex.Message);
        Assert.Equal(contents, File.ReadAllBytes(database.Path));
    }

    [Fact]
    public async Task Read_only_file_is_reported_with_the_path()
    {
        using var database = new TempDatabase();
        using (var create = new SqliteConnection(database.ConnectionString + ";Pooling=False"))
        {
            create.Open();
            using var command = create.CreateCommand();
            command.CommandText = "PRAGMA journal_mode=WAL; CREATE TABLE app_data (x);";
            command.ExecuteNonQuery();
        }

        using var readOnly = ReadOnlyFile.Make(database.Path);
        using var manager = DirectManagers.Create(database);

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => manager.Node.EnsureStartedAsync()).DefaultTimeout();

        Assert.StartsWith($"The SQLite backplane database '{database.Path}' is read-only", ex.Message);
        Assert.Contains("Give this process write access", ex.Message);
    }

    [Fact]
    public async Task Missing_schema_with_auto_create_off_says_how_to_fix_it()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database, o => { o.AutoCreateSchema = false; o.TablePrefix = "app1_"; });

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => manager.Node.EnsureStartedAsync()).DefaultTimeout();

        Assert.Contains("tables with prefix 'app1_' do not exist", ex.Message);
        Assert.Contains("AutoCreateSchema", ex.Message);
    }

    [Fact]
    public async Task A_file_from_before_resume_works_without_auto_create_and_resume_says_how_to_add_its_table()
    {
        using var database = new TempDatabase();
        await using (var creator = DirectManagers.Create(database))
        {
            await creator.Node.EnsureStartedAsync().DefaultTimeout();
        }

        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection(database.ConnectionString))
        {
            connection.Open();
            using var drop = connection.CreateCommand();
            drop.CommandText = "DROP TABLE signalr_resumable";
            drop.ExecuteNonQuery();
        }

        await using (var old = DirectManagers.Create(database, o => o.AutoCreateSchema = false))
        {
            await old.Node.EnsureStartedAsync().DefaultTimeout();
        }

        await using var resuming = DirectManagers.Create(database, o => { o.AutoCreateSchema = false; o.EnableResume = true; });
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => resuming.Node.EnsureStartedAsync()).DefaultTimeout();
        Assert.Contains("EnableResume needs the table 'signalr_resumable'", ex.Message);
        Assert.Contains("AutoCreateSchema", ex.Message);
    }

    [Fact]
    public async Task A_failed_start_is_retried_once_the_problem_is_fixed()
    {
        using var database = new TempDatabase();
        var directory = Path.Combine(database.Directory, "later");
        using var manager = DirectManagers.Create(database, o => o.ConnectionString = $"Data Source={Path.Combine(directory, "b.db")}");
        await Assert.ThrowsAsync<InvalidOperationException>(() => manager.Node.EnsureStartedAsync()).DefaultTimeout();

        Directory.CreateDirectory(directory);

        await manager.Node.EnsureStartedAsync().DefaultTimeout();
        Assert.True(File.Exists(Path.Combine(directory, "b.db")));
    }

    [Fact]
    public async Task New_database_file_is_readable_by_its_owner_only()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database);

        await manager.Node.EnsureStartedAsync().DefaultTimeout();

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(database.Path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(database.Path + "-wal"));
    }

    /// <summary>Makes a file unwritable even for root (immutable attribute), or by mode bits for other users.</summary>
    private sealed class ReadOnlyFile : IDisposable
    {
        private readonly string _path;
        private readonly bool _immutable;

        private ReadOnlyFile(string path, bool immutable)
        {
            _path = path;
            _immutable = immutable;
        }

        public static ReadOnlyFile Make(string path)
        {
            if (Environment.UserName == "root" || Environment.GetEnvironmentVariable("USER") == "root")
            {
                Run("chattr", "+i", path);
                return new ReadOnlyFile(path, immutable: true);
            }

            File.SetUnixFileMode(path, UnixFileMode.UserRead);
            return new ReadOnlyFile(path, immutable: false);
        }

        public void Dispose()
        {
            if (_immutable)
            {
                Run("chattr", "-i", _path);
            }
            else
            {
                File.SetUnixFileMode(_path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
        }

        private static void Run(string program, params string[] args)
        {
            using var process = Process.Start(new ProcessStartInfo(program, args) { RedirectStandardError = true })!;
            var error = process.StandardError.ReadToEnd();
            if (!process.WaitForExit(10_000) || process.ExitCode != 0)
            {
                throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed: {error}");
            }
        }
    }
}

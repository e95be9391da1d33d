using System.Globalization;
using Microsoft.Data.Sqlite;

namespace SqliteBackplane.Cli;

/// <summary>The parsed command line: <c>sqlite-backplane &lt;command&gt; --db &lt;path&gt; [options]</c>.</summary>
internal sealed class CliArguments
{
    public const int DefaultLast = 10;
    public const int DefaultWidth = 120;
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(250);

    // Which options each command accepts, so a misplaced one is an error rather than silently ignored.
    private static readonly Dictionary<string, string[]> CommandOptions = new(StringComparer.Ordinal)
    {
        ["stats"] = ["--json", "--node-timeout"],
        ["nodes"] = ["--json", "--node-timeout"],
        ["clean"] = ["--node-timeout", "--busy-timeout"],
        ["compact"] = ["--output", "--force", "--node-timeout"],
        ["tail"] = ["--count", "--last", "--interval", "--width"],
    };

    private static readonly string[] CommonOptions = ["--db", "--prefix"];

    private CliArguments(string command) => Command = command;

    public string Command { get; }

    /// <summary>The connection string built from <c>--db</c> (a path or a connection string).</summary>
    public string ConnectionString { get; private set; } = "";

    public string TablePrefix { get; private set; } = SqliteBackplaneOptions.DefaultTablePrefix;

    public TimeSpan? NodeTimeout { get; private set; }

    public TimeSpan? BusyTimeout { get; private set; }

    public bool Json { get; private set; }

    public bool Force { get; private set; }

    public string? Output { get; private set; }

    public int? Count { get; private set; }

    public int Last { get; private set; } = DefaultLast;

    public TimeSpan Interval { get; private set; } = DefaultInterval;

    public int Width { get; private set; } = DefaultWidth;

    public static IReadOnlyCollection<string> Commands => CommandOptions.Keys;

    /// <summary>Parses the arguments after the command name. Throws <see cref="UsageException"/> on any mistake.</summary>
    public static CliArguments Parse(string command, IReadOnlyList<string> args)
    {
        if (!CommandOptions.TryGetValue(command, out var allowed))
        {
            throw new UsageException($"Unknown command '{command}'. Commands: {string.Join(", ", Commands)}.");
        }

        var parsed = new CliArguments(command);
        string? db = null;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            var (name, inlineValue) = SplitInline(arg);
            if (!name.StartsWith("--", StringComparison.Ordinal))
            {
                throw new UsageException($"Unexpected argument '{arg}'. Options start with '--'; see 'sqlite-backplane help'.");
            }

            if (!CommonOptions.Contains(name) && !allowed.Contains(name))
            {
                throw new UsageException($"'{command}' has no option '{name}'. It accepts: {string.Join(", ", CommonOptions.Concat(allowed))}.");
            }

            switch (name)
            {
                case "--json":
                    parsed.Json = true;
                    break;
                case "--force":
                    parsed.Force = true;
                    break;
                default:
                    var value = inlineValue ?? (i + 1 < args.Count ? args[++i] : throw new UsageException($"Option '{name}' needs a value."));
                    parsed.Apply(name, value, ref db);
                    break;
            }
        }

        if (string.IsNullOrWhiteSpace(db))
        {
            throw new UsageException("Name the backplane database with --db <path> (or --db \"Data Source=<path>\").");
        }

        parsed.ConnectionString = ToConnectionString(db);
        return parsed;
    }

    /// <summary>The options the maintenance API needs, from the command line.</summary>
    public SqliteBackplaneOptions ToOptions()
    {
        var options = new SqliteBackplaneOptions { ConnectionString = ConnectionString, TablePrefix = TablePrefix };
        if (NodeTimeout is { } nodeTimeout)
        {
            options.NodeTimeout = nodeTimeout;
            // Only the ratio is validated; the tool never heartbeats.
            options.HeartbeatInterval = TimeSpan.FromTicks(Math.Min(options.HeartbeatInterval.Ticks, nodeTimeout.Ticks / 2));
        }

        if (BusyTimeout is { } busyTimeout)
        {
            options.BusyTimeout = busyTimeout;
        }

        return options;
    }

    private void Apply(string name, string value, ref string? db)
    {
        switch (name)
        {
            case "--db":
                db = value;
                break;
            case "--prefix":
                TablePrefix = value;
                break;
            case "--output":
                Output = value;
                break;
            case "--node-timeout":
                NodeTimeout = TimeSpan.FromSeconds(PositiveNumber(name, value));
                break;
            case "--busy-timeout":
                BusyTimeout = TimeSpan.FromSeconds(PositiveNumber(name, value));
                break;
            case "--interval":
                Interval = TimeSpan.FromMilliseconds(Math.Max(10, PositiveNumber(name, value)));
                break;
            case "--count":
                Count = (int)WholeNumber(name, value, minimum: 1);
                break;
            case "--last":
                Last = (int)WholeNumber(name, value, minimum: 0);
                break;
            case "--width":
                Width = (int)WholeNumber(name, value, minimum: 16);
                break;
        }
    }

    private static (string Name, string? Value) SplitInline(string arg)
    {
        var equals = arg.IndexOf('=', StringComparison.Ordinal);
        return arg.StartsWith("--", StringComparison.Ordinal) && equals > 2 ? (arg[..equals], arg[(equals + 1)..]) : (arg, null);
    }

    private static double PositiveNumber(string name, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && number > 0 && double.IsFinite(number)
            ? number
            : throw new UsageException($"Option '{name}' needs a positive number, not '{value}'.");

    private static long WholeNumber(string name, string value, int minimum) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number >= minimum
            ? number
            : throw new UsageException($"Option '{name}' needs a whole number of at least {minimum}, not '{value}'.");

    // A bare path becomes "Data Source=<path>"; anything with '=' is taken as a Microsoft.Data.Sqlite connection string.
    private static string ToConnectionString(string db)
    {
        if (!db.Contains('=', StringComparison.Ordinal))
        {
            return new SqliteConnectionStringBuilder { DataSource = db }.ToString();
        }

        try
        {
            return new SqliteConnectionStringBuilder(db).ToString();
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidOperationException)
        {
            throw new UsageException($"--db '{db}' is neither a file path nor a valid connection string: {ex.Message}");
        }
    }
}

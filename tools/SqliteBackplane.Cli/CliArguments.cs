using System.CommandLine;
using System.CommandLine.Parsing;
using Microsoft.Data.Sqlite;

namespace SqliteBackplane.Cli;

/// <summary>
/// The options of <c>sqlite-backplane</c> (System.CommandLine) and the values one command line gives them. Each
/// command declares only the options it accepts, so a misplaced one is a usage error rather than silently ignored.
/// </summary>
internal sealed class CliArguments
{
    public const int DefaultLast = 10;
    public const int DefaultWidth = 120;
    public const double DefaultIntervalMs = 250;

    public static readonly Option<string> Db = new("--db")
    {
        Description = "The database file, or a connection string such as \"Data Source=/var/lib/app/signalr.db\".",
        HelpName = "path",
        Required = true,
    };

    public static readonly Option<string> Prefix = new("--prefix")
    {
        Description = "The table prefix.",
        DefaultValueFactory = _ => SqliteBackplaneOptions.DefaultTablePrefix,
    };

    public static readonly Option<bool> Json = new("--json") { Description = "Print JSON instead of a table." };

    public static readonly Option<double?> NodeTimeout = PositiveNumber("--node-timeout", "s",
        "A node is dead when its heartbeat is older than this many seconds (default 10, as the library).");

    public static readonly Option<double?> BusyTimeout = PositiveNumber("--busy-timeout", "s",
        "How many seconds a write waits for the database write lock (default 5).");

    public static readonly Option<string?> Output = new("--output")
    {
        Description = "Where to write the compacted copy (default: beside the file, with a time stamp).",
        HelpName = "path",
    };

    public static readonly Option<bool> Force = new("--force") { Description = "Compact even while a node is live." };

    public static readonly Option<int?> Count = WholeNumber("--count", minimum: 1, "Stop after this many rows.");

    public static readonly Option<int?> Last = WholeNumber("--last", minimum: 0, $"Start with this many of the newest rows (default {DefaultLast}).");

    public static readonly Option<double?> Interval = PositiveNumber("--interval", "ms", $"Poll every this many milliseconds (default {DefaultIntervalMs}, at least 10).");

    public static readonly Option<double?> TopInterval = PositiveNumber("--interval", "ms", "Redraw every this many milliseconds (default 1000, at least 10).");

    public static readonly Option<int?> Iterations = WholeNumber("--iterations", minimum: 1, "Draw this many frames, then stop (default: until q or Ctrl+C).");

    public static readonly Option<int?> Width = WholeNumber("--width", minimum: 16, $"Truncate payload lines to this width (default {DefaultWidth}).");

    private CliArguments(ParseResult result)
    {
        ConnectionString = ToConnectionString(result.GetRequiredValue(Db));
        TablePrefix = result.GetValue(Prefix) ?? SqliteBackplaneOptions.DefaultTablePrefix;
        NodeTimeoutValue = result.GetValue(NodeTimeout) is { } nodeTimeout ? TimeSpan.FromSeconds(nodeTimeout) : null;
        BusyTimeoutValue = result.GetValue(BusyTimeout) is { } busyTimeout ? TimeSpan.FromSeconds(busyTimeout) : null;
        IsJson = result.GetValue(Json);
        IsForced = result.GetValue(Force);
        OutputPath = result.GetValue(Output);
        CountValue = result.GetValue(Count);
        LastValue = result.GetValue(Last) ?? DefaultLast;
        IntervalValue = TimeSpan.FromMilliseconds(Math.Max(10, result.GetValue(Interval) ?? DefaultIntervalMs));
        WidthValue = result.GetValue(Width) ?? DefaultWidth;
        IterationsValue = result.GetValue(Iterations);
        IntervalGiven = (result.GetValue(TopInterval) ?? result.GetValue(Interval)) is { } interval ? TimeSpan.FromMilliseconds(Math.Max(10, interval)) : null;
    }

    /// <summary>The connection string built from <c>--db</c> (a path or a connection string).</summary>
    public string ConnectionString { get; }

    public string TablePrefix { get; }

    public TimeSpan? NodeTimeoutValue { get; }

    public TimeSpan? BusyTimeoutValue { get; }

    public bool IsJson { get; }

    public bool IsForced { get; }

    public string? OutputPath { get; }

    public int? CountValue { get; }

    public int LastValue { get; }

    public TimeSpan IntervalValue { get; }

    public int WidthValue { get; }

    /// <summary>The frames <c>top</c> draws before it stops; null to run until q or Ctrl+C.</summary>
    public int? IterationsValue { get; }

    /// <summary>The <c>--interval</c> given on the command line, or null (each command has its own default).</summary>
    public TimeSpan? IntervalGiven { get; }

    /// <summary>The values of a command line that parsed without errors. Throws <see cref="UsageException"/> for a bad --db.</summary>
    public static CliArguments From(ParseResult result) => new(result);

    /// <summary>The options the maintenance API needs, from the command line.</summary>
    public SqliteBackplaneOptions ToOptions()
    {
        var options = new SqliteBackplaneOptions { ConnectionString = ConnectionString, TablePrefix = TablePrefix };
        if (NodeTimeoutValue is { } nodeTimeout)
        {
            options.NodeTimeout = nodeTimeout;
            // Only the ratio is validated; the tool never heartbeats.
            options.HeartbeatInterval = TimeSpan.FromTicks(Math.Min(options.HeartbeatInterval.Ticks, nodeTimeout.Ticks / 2));
        }

        if (BusyTimeoutValue is { } busyTimeout)
        {
            options.BusyTimeout = busyTimeout;
        }

        return options;
    }

    private static Option<double?> PositiveNumber(string name, string unit, string description)
    {
        var option = new Option<double?>(name) { Description = description, HelpName = unit };
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<double?>() is { } value && !(value > 0 && double.IsFinite(value)))
            {
                result.AddError($"Option '{name}' needs a positive number, not '{Token(result)}'.");
            }
        });
        return option;
    }

    private static Option<int?> WholeNumber(string name, int minimum, string description)
    {
        var option = new Option<int?>(name)
        {
            Description = description,
            HelpName = "n",
            // Parsed here rather than by the library, so every bad value gets the same message.
            CustomParser = result =>
            {
                var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
                if (int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number) && number >= minimum)
                {
                    return number;
                }

                result.AddError($"Option '{name}' needs a whole number of at least {minimum}, not '{text}'.");
                return null;
            },
        };
        return option;
    }

    private static string Token(OptionResult result) => result.Tokens.Count > 0 ? result.Tokens[0].Value : "";

    // A bare path becomes "Data Source=<path>"; anything with '=' is taken as a Microsoft.Data.Sqlite connection string.
    private static string ToConnectionString(string db)
    {
        if (string.IsNullOrWhiteSpace(db))
        {
            throw new UsageException("Name the backplane database with --db <path> (or --db \"Data Source=<path>\").");
        }

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

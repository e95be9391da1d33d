using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using SqliteBackplane.Internal.Flow;

namespace SqliteBackplane.Internal.Configuration;

/// <summary>Checks <see cref="SqliteBackplaneOptions"/> at startup; every failure names the option and the fix.</summary>
internal sealed class SqliteBackplaneOptionsValidator : IValidateOptions<SqliteBackplaneOptions>
{
    public ValidateOptionsResult Validate(string? name, SqliteBackplaneOptions options)
    {
        var failures = Check(options);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>Throws an <see cref="OptionsValidationException"/> listing every problem; used where options arrive without DI validation.</summary>
    public static void ThrowIfInvalid(SqliteBackplaneOptions options)
    {
        var failures = Check(options);
        if (failures.Count > 0)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(SqliteBackplaneOptions), failures);
        }
    }

    /// <summary>The smallest <see cref="SqliteBackplaneOptions.MaxWalSize"/> (4 MiB).</summary>
    public const long MinMaxWalSize = 4L * 1024 * 1024;

    public static List<string> Check(SqliteBackplaneOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();

        CheckConnectionString(options.ConnectionString, failures);

        if (!Storage.SchemaSetup.IsValidTablePrefix(options.TablePrefix))
        {
            failures.Add($"{nameof(SqliteBackplaneOptions)}.{nameof(SqliteBackplaneOptions.TablePrefix)} '{options.TablePrefix}' is not a valid table prefix. " +
                "Use 1 to 64 ASCII letters, digits or underscores, starting with a letter or underscore (for example 'signalr_').");
        }

        CheckRange(failures, nameof(SqliteBackplaneOptions.MessageExpiry), options.MessageExpiry, TimeSpan.FromSeconds(1), TimeSpan.FromDays(7));
        CheckRange(failures, nameof(SqliteBackplaneOptions.SafetyPollInterval), options.SafetyPollInterval, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(1));
        CheckRange(failures, nameof(SqliteBackplaneOptions.HeartbeatInterval), options.HeartbeatInterval, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(5));
        CheckRange(failures, nameof(SqliteBackplaneOptions.NodeTimeout), options.NodeTimeout, TimeSpan.FromMilliseconds(200), TimeSpan.FromHours(1));
        CheckRange(failures, nameof(SqliteBackplaneOptions.BusyTimeout), options.BusyTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(10));

        if (options.HeartbeatInterval > TimeSpan.Zero && options.NodeTimeout < options.HeartbeatInterval * 2)
        {
            failures.Add($"{nameof(SqliteBackplaneOptions)}.{nameof(SqliteBackplaneOptions.NodeTimeout)} ({options.NodeTimeout}) must be at least twice " +
                $"{nameof(SqliteBackplaneOptions.HeartbeatInterval)} ({options.HeartbeatInterval}), or live nodes would be reaped between heartbeats. " +
                $"Raise {nameof(SqliteBackplaneOptions.NodeTimeout)} or lower {nameof(SqliteBackplaneOptions.HeartbeatInterval)}.");
        }

        if (options.ResumeWindow is { } window && (window <= TimeSpan.Zero || window > options.MessageExpiry))
        {
            failures.Add($"{nameof(SqliteBackplaneOptions)}.{nameof(SqliteBackplaneOptions.ResumeWindow)} ({window}) must be more than zero and at most " +
                $"{nameof(SqliteBackplaneOptions.MessageExpiry)} ({options.MessageExpiry}): the messages a resumed client missed must still be in the log. " +
                $"Lower {nameof(SqliteBackplaneOptions.ResumeWindow)}, raise {nameof(SqliteBackplaneOptions.MessageExpiry)}, or leave it null to use {nameof(SqliteBackplaneOptions.MessageExpiry)}.");
        }

        for (var i = 0; i < (options.EncryptionKeys?.Count ?? 0); i++)
        {
            if (string.IsNullOrEmpty(options.EncryptionKeys![i]))
            {
                failures.Add($"{nameof(SqliteBackplaneOptions)}.{nameof(SqliteBackplaneOptions.EncryptionKeys)}[{i}] is empty. " +
                    "Use a long random secret (for example 32 random bytes in Base64), or remove the entry.");
            }
        }

        if (options.MaxLogRows < 100)
        {
            failures.Add($"{nameof(SqliteBackplaneOptions)}.{nameof(SqliteBackplaneOptions.MaxLogRows)} is {options.MaxLogRows}; set it to 100 or more.");
        }

        if (!Enum.IsDefined(options.LogFullMode))
        {
            failures.Add($"{nameof(SqliteBackplaneOptions)}.{nameof(SqliteBackplaneOptions.LogFullMode)} is {(int)options.LogFullMode}, which is not a mode; use DropOldest or RejectNewMessages.");
        }

        foreach (var (pattern, capacity) in options.LogCapacityOverrides ?? new Dictionary<string, int>())
        {
            if (pattern is null || !(pattern.StartsWith(MessageLogCapacityPolicy.HubPrefix, StringComparison.Ordinal) || pattern.StartsWith(MessageLogCapacityPolicy.GroupPrefix, StringComparison.Ordinal)))
            {
                failures.Add($"{nameof(SqliteBackplaneOptions)}.{nameof(SqliteBackplaneOptions.LogCapacityOverrides)} key '{pattern}' does not say what it matches. " +
                    "Start it with \"hub:\" or \"group:\", for example \"group:alerts-*\".");
            }

            if (capacity < 1)
            {
                failures.Add($"{nameof(SqliteBackplaneOptions)}.{nameof(SqliteBackplaneOptions.LogCapacityOverrides)}[\"{pattern}\"] is {capacity}; set it to 1 or more.");
            }
        }

        if (options.MaxWalSize < MinMaxWalSize)
        {
            failures.Add($"{nameof(SqliteBackplaneOptions)}.{nameof(SqliteBackplaneOptions.MaxWalSize)} is {options.MaxWalSize} bytes, too small to hold " +
                $"the log between two checkpoints; set it to {MinMaxWalSize} (4 MiB) or more. The default is 64 MiB.");
        }

        if (options.MaxPendingMessagesPerConnection < 1 || options.MaxPendingMessagesPerConnection > 1_000_000)
        {
            failures.Add($"{nameof(SqliteBackplaneOptions)}.{nameof(SqliteBackplaneOptions.MaxPendingMessagesPerConnection)} is " +
                $"{options.MaxPendingMessagesPerConnection}; set it between 1 and 1000000.");
        }

        if (options.MaxQueuedMessages < 16 || options.MaxQueuedMessages > 1_000_000)
        {
            failures.Add($"{nameof(SqliteBackplaneOptions)}.{nameof(SqliteBackplaneOptions.MaxQueuedMessages)} is " +
                $"{options.MaxQueuedMessages}; set it between 16 and 1000000.");
        }

        if (options.MaxReaderLag < 16 || options.MaxReaderLag > 10_000_000)
        {
            failures.Add($"{nameof(SqliteBackplaneOptions)}.{nameof(SqliteBackplaneOptions.MaxReaderLag)} is " +
                $"{options.MaxReaderLag}; set it between 16 and 10000000.");
        }

        if (options.MaxMessageBytes < 1024 || options.MaxMessageBytes > 256 * 1024 * 1024)
        {
            failures.Add($"{nameof(SqliteBackplaneOptions)}.{nameof(SqliteBackplaneOptions.MaxMessageBytes)} is {options.MaxMessageBytes}; " +
                "set it between 1024 (1 KiB) and 268435456 (256 MiB).");
        }

        return failures;
    }

    private static void CheckConnectionString(string? connectionString, List<string> failures)
    {
        const string option = nameof(SqliteBackplaneOptions) + "." + nameof(SqliteBackplaneOptions.ConnectionString);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            failures.Add($"{option} is empty. Set it to a file, for example \"Data Source=signalr.db\".");
            return;
        }

        SqliteConnectionStringBuilder builder;
        try
        {
            builder = new SqliteConnectionStringBuilder(connectionString);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidOperationException)
        {
            failures.Add($"{option} could not be parsed: {ex.Message} Use the Microsoft.Data.Sqlite form, for example \"Data Source=signalr.db\".");
            return;
        }

        var dataSource = builder.DataSource;
        if (string.IsNullOrWhiteSpace(dataSource))
        {
            failures.Add($"{option} has no Data Source. Name a file, for example \"Data Source=signalr.db\".");
        }
        else if (builder.Mode == SqliteOpenMode.Memory || dataSource == ":memory:" || dataSource.Contains("mode=memory", StringComparison.OrdinalIgnoreCase))
        {
            failures.Add($"{option} names an in-memory database, which other processes cannot see. Name a file, for example \"Data Source=signalr.db\".");
        }
        else if (builder.Mode == SqliteOpenMode.ReadOnly)
        {
            failures.Add($"{option} opens the database read-only (Mode=ReadOnly), but the backplane writes to it. Remove the Mode keyword or use Mode=ReadWriteCreate.");
        }
        else if (dataSource.StartsWith("file:", StringComparison.OrdinalIgnoreCase))
        {
            failures.Add($"{option} uses a URI Data Source ('{dataSource}'), which the backplane does not support. Use a plain file path.");
        }
    }

    private static void CheckRange(List<string> failures, string optionName, TimeSpan value, TimeSpan min, TimeSpan max)
    {
        if (value < min || value > max)
        {
            failures.Add($"{nameof(SqliteBackplaneOptions)}.{optionName} is {value}; set it between {min} and {max}.");
        }
    }
}

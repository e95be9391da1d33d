using System.Globalization;

namespace SqliteBackplane.TestServer;

/// <summary>
/// Everything that distinguishes one test server from another. The multi-process tests pass it as command-line
/// arguments (<see cref="ToArguments"/> and <see cref="Parse"/> are exact inverses); the in-process tests pass it directly.
/// </summary>
public sealed record TestServerSettings
{
    /// <summary>Path of the backplane database file.</summary>
    public required string DatabasePath { get; init; }

    /// <summary>Table prefix of the backplane; two prefixes on one file are two separate applications.</summary>
    public string TablePrefix { get; init; } = SqliteBackplaneOptions.DefaultTablePrefix;

    /// <summary>Kestrel port on 127.0.0.1; 0 picks a free one.</summary>
    public int Port { get; init; }

    /// <summary>When <see langword="false"/>, SignalR's in-box DefaultHubLifetimeManager is used (a baseline for the tests themselves).</summary>
    public bool UseBackplane { get; init; } = true;

    /// <summary>
    /// When set (for example <c>127.0.0.1:6380</c>), the server uses Microsoft's Redis backplane
    /// (AddStackExchangeRedis) at this address instead of the SQLite backplane, with <see cref="TablePrefix"/> as
    /// its channel prefix: the same suite then shows where the two behave alike and where they differ.
    /// </summary>
    public string? RedisConfiguration { get; init; }

    /// <summary>Whether the server registers the MessagePack hub protocol; false makes a process that lacks a protocol others use.</summary>
    public bool MessagePack { get; init; } = true;

    /// <summary>Heartbeat interval; short so that crash tests finish quickly.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Node timeout; short so that crash tests finish quickly.</summary>
    public TimeSpan NodeTimeout { get; init; } = TimeSpan.FromMilliseconds(1500);

    /// <summary>Payload encryption keys (SqliteBackplaneOptions.EncryptionKeys), first one encrypting; empty for none.</summary>
    public IReadOnlyList<string> EncryptionKeys { get; init; } = [];

    /// <summary>Whether the backplane runs its periodic passive checkpoints (off to leave them to Litestream).</summary>
    public bool RunCheckpoints { get; init; } = true;

    /// <summary>
    /// When not empty, the process is a send-only worker instead of a server: a generic host without Kestrel that sends
    /// each of these through <c>IHubContext&lt;TestHub&gt;</c> and exits. Each is <c>all:&lt;message&gt;</c>,
    /// <c>group:&lt;group&gt;:&lt;message&gt;</c>, <c>user:&lt;user&gt;:&lt;message&gt;</c> or <c>connection:&lt;id&gt;:&lt;message&gt;</c>.
    /// </summary>
    public IReadOnlyList<string> Sends { get; init; } = [];

    /// <summary>The host's content root (a relative <see cref="DatabasePath"/> is resolved against it); null keeps the host's default.</summary>
    public string? ContentRoot { get; init; }

    /// <summary>The host's ShutdownTimeout (HostOptions); null keeps the host's default.</summary>
    public TimeSpan? ShutdownTimeout { get; init; }

    /// <summary>When set, the server stops as soon as this process exits, so a crashed test run leaves no servers behind.</summary>
    public int? ParentProcessId { get; init; }

    /// <summary>SqliteBackplaneOptions.EnableResume: clients that opt in can resume (docs/resume.md).</summary>
    public bool EnableResume { get; init; }

    /// <summary>SqliteBackplaneOptions.ResumeWindow; null keeps the default (MessageExpiry).</summary>
    public TimeSpan? ResumeWindow { get; init; }

    /// <summary>SqliteBackplaneOptions.MaxLogRows; null keeps the default.</summary>
    public int? MaxLogRows { get; init; }

    /// <summary>SqliteBackplaneOptions.MaxPendingMessagesPerConnection; null keeps the default.</summary>
    public int? MaxPendingMessagesPerConnection { get; init; }

    /// <summary>SqliteBackplaneOptions.MaxWalSize in bytes; null keeps the default.</summary>
    public long? MaxWalSize { get; init; }

    /// <summary>
    /// When set, the server names itself with this key in the affinity cookie (UseSqliteBackplaneAffinity) and serves its
    /// health check at <c>/health</c>, for the front-door tests (nginx, YARP).
    /// </summary>
    public string? RouteKey { get; init; }

    /// <summary>
    /// When set, the server is also a sending worker: from its start it sends this many messages a second to All, a group
    /// and users (<see cref="PacedSender"/>) until it stops.
    /// </summary>
    public int? PacedSendRate { get; init; }

    /// <summary>How many users (<c>u0</c>, <c>u1</c>, ...) <see cref="PacedSendRate"/>'s user messages go to in turn.</summary>
    public int PacedSendUsers { get; init; } = 1;

    /// <summary>The connection string the backplane uses.</summary>
    public string ConnectionString => $"Data Source={DatabasePath}";

    /// <summary>Formats the settings as the server's command-line arguments.</summary>
    public IReadOnlyList<string> ToArguments()
    {
        var arguments = new List<string>
        {
            "--db", DatabasePath,
            "--prefix", TablePrefix,
            "--port", Port.ToString(CultureInfo.InvariantCulture),
            "--heartbeat-ms", ((int)HeartbeatInterval.TotalMilliseconds).ToString(CultureInfo.InvariantCulture),
            "--node-timeout-ms", ((int)NodeTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture),
        };
        if (!UseBackplane)
        {
            arguments.Add("--no-backplane");
        }
        if (!RunCheckpoints)
        {
            arguments.Add("--no-checkpoints");
        }
        if (RedisConfiguration is not null)
        {
            arguments.Add("--redis");
            arguments.Add(RedisConfiguration);
        }
        if (!MessagePack)
        {
            arguments.Add("--no-messagepack");
        }
        foreach (var key in EncryptionKeys)
        {
            arguments.Add("--encryption-key");
            arguments.Add(key);
        }
        foreach (var send in Sends)
        {
            arguments.Add("--send");
            arguments.Add(send);
        }
        if (ContentRoot is not null)
        {
            arguments.Add("--content-root");
            arguments.Add(ContentRoot);
        }
        if (RouteKey is not null)
        {
            arguments.Add("--route-key");
            arguments.Add(RouteKey);
        }
        if (ShutdownTimeout is TimeSpan shutdownTimeout)
        {
            arguments.Add("--shutdown-timeout-ms");
            arguments.Add(((int)shutdownTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture));
        }
        if (EnableResume)
        {
            arguments.Add("--resume");
        }
        if (ResumeWindow is TimeSpan resumeWindow)
        {
            arguments.Add("--resume-window-ms");
            arguments.Add(((int)resumeWindow.TotalMilliseconds).ToString(CultureInfo.InvariantCulture));
        }
        if (MaxLogRows is int maxLogRows)
        {
            arguments.Add("--max-log-rows");
            arguments.Add(maxLogRows.ToString(CultureInfo.InvariantCulture));
        }
        if (MaxPendingMessagesPerConnection is int maxPending)
        {
            arguments.Add("--max-pending");
            arguments.Add(maxPending.ToString(CultureInfo.InvariantCulture));
        }
        if (MaxWalSize is long maxWalSize)
        {
            arguments.Add("--max-wal-bytes");
            arguments.Add(maxWalSize.ToString(CultureInfo.InvariantCulture));
        }
        if (PacedSendRate is int rate)
        {
            arguments.Add("--paced-send-rate");
            arguments.Add(rate.ToString(CultureInfo.InvariantCulture));
            arguments.Add("--paced-send-users");
            arguments.Add(PacedSendUsers.ToString(CultureInfo.InvariantCulture));
        }
        if (ParentProcessId is int parent)
        {
            arguments.Add("--parent-pid");
            arguments.Add(parent.ToString(CultureInfo.InvariantCulture));
        }
        return arguments;
    }

    /// <summary>Parses command-line arguments written by <see cref="ToArguments"/>.</summary>
    /// <exception cref="ArgumentException">An argument is unknown, lacks its value, or <c>--db</c> is missing.</exception>
    public static TestServerSettings Parse(IReadOnlyList<string> args)
    {
        string? databasePath = null;
        var settings = new TestServerSettings { DatabasePath = "" };
        for (var i = 0; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "--db": databasePath = ValueAfter(args, ref i); break;
                case "--prefix": settings = settings with { TablePrefix = ValueAfter(args, ref i) }; break;
                case "--port": settings = settings with { Port = IntegerAfter(args, ref i) }; break;
                case "--heartbeat-ms": settings = settings with { HeartbeatInterval = TimeSpan.FromMilliseconds(IntegerAfter(args, ref i)) }; break;
                case "--node-timeout-ms": settings = settings with { NodeTimeout = TimeSpan.FromMilliseconds(IntegerAfter(args, ref i)) }; break;
                case "--send": settings = settings with { Sends = [.. settings.Sends, ValueAfter(args, ref i)] }; break;
                case "--content-root": settings = settings with { ContentRoot = ValueAfter(args, ref i) }; break;
                case "--shutdown-timeout-ms": settings = settings with { ShutdownTimeout = TimeSpan.FromMilliseconds(IntegerAfter(args, ref i)) }; break;
                case "--parent-pid": settings = settings with { ParentProcessId = IntegerAfter(args, ref i) }; break;
                case "--max-log-rows": settings = settings with { MaxLogRows = IntegerAfter(args, ref i) }; break;
                case "--max-pending": settings = settings with { MaxPendingMessagesPerConnection = IntegerAfter(args, ref i) }; break;
                case "--max-wal-bytes": settings = settings with { MaxWalSize = long.Parse(ValueAfter(args, ref i), NumberStyles.Integer, CultureInfo.InvariantCulture) }; break;
                case "--paced-send-rate": settings = settings with { PacedSendRate = IntegerAfter(args, ref i) }; break;
                case "--paced-send-users": settings = settings with { PacedSendUsers = IntegerAfter(args, ref i) }; break;
                case "--resume": settings = settings with { EnableResume = true }; break;
                case "--resume-window-ms": settings = settings with { ResumeWindow = TimeSpan.FromMilliseconds(IntegerAfter(args, ref i)) }; break;
                case "--no-backplane": settings = settings with { UseBackplane = false }; break;
                case "--no-checkpoints": settings = settings with { RunCheckpoints = false }; break;
                case "--redis": settings = settings with { RedisConfiguration = ValueAfter(args, ref i) }; break;
                case "--route-key": settings = settings with { RouteKey = ValueAfter(args, ref i) }; break;
                case "--no-messagepack": settings = settings with { MessagePack = false }; break;
                case "--encryption-key": settings = settings with { EncryptionKeys = [.. settings.EncryptionKeys, ValueAfter(args, ref i)] }; break;
                default: throw new ArgumentException($"Unknown argument '{args[i]}'. Usage: --db <path> [--prefix <tablePrefix>] [--port 0] [--heartbeat-ms 200] [--node-timeout-ms 1500] [--send <kind>:[<target>:]<message>]... [--content-root <dir>] [--shutdown-timeout-ms <ms>] [--parent-pid <pid>] [--no-backplane] [--no-checkpoints] [--redis <host:port>] [--no-messagepack] [--encryption-key <key>]... [--resume] [--resume-window-ms <ms>] [--max-log-rows <rows>] [--max-pending <messages>] [--max-wal-bytes <bytes>] [--route-key <key>] [--paced-send-rate <messages/s> --paced-send-users <users>]");
            }
        }
        if (databasePath is null)
        {
            throw new ArgumentException("Missing --db <path>: the backplane database file.");
        }
        return settings with { DatabasePath = databasePath };
    }

    private static string ValueAfter(IReadOnlyList<string> args, ref int i)
    {
        if (i + 1 >= args.Count)
        {
            throw new ArgumentException($"Argument '{args[i]}' needs a value.");
        }
        i++;
        return args[i];
    }

    private static int IntegerAfter(IReadOnlyList<string> args, ref int i)
    {
        var name = args[i];
        var value = ValueAfter(args, ref i);
        return int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed)
            ? parsed
            : throw new ArgumentException($"Argument '{name}' needs an integer, not '{value}'.");
    }
}

using System.Globalization;

namespace ChatSample.Launcher;

/// <summary>
/// The sample's own command-line switches. Anything else is passed on to ASP.NET Core as configuration.
/// </summary>
/// <param name="Instances">How many server processes the launcher starts (<c>--instances</c>, default 2).</param>
/// <param name="Instance">The instance number of this server process (<c>--instance</c>); null in launcher mode.</param>
/// <param name="Port">The port this server listens on (<c>--port</c>); defaults to base port + instance number.</param>
/// <param name="BasePort">The launcher's front door listens on the base port, instance N on base port + N (<c>--base-port</c>, default 5000).</param>
/// <param name="DatabasePath">The shared SQLite file, as a full path (<c>--db</c>, default <c>chat-backplane.db</c> in the working directory).</param>
/// <param name="ParentProcessId">Set by the launcher on its children (<c>--parent-pid</c>): the child stops when the launcher goes away.</param>
/// <param name="OtherArguments">Arguments this parser does not know, for ASP.NET Core configuration.</param>
public sealed record ChatSampleCommandLine(
    int Instances,
    int? Instance,
    int? Port,
    int BasePort,
    string DatabasePath,
    int? ParentProcessId,
    IReadOnlyList<string> OtherArguments)
{
    public const int DefaultInstances = 2;
    public const int DefaultBasePort = 5000;
    public const string DefaultDatabaseFile = "chat-backplane.db";

    /// <summary>True when this process should start and supervise child servers instead of serving itself.</summary>
    public bool IsLauncher => Instance is null && Instances > 1;

    /// <summary>The instance number this process serves as (1 when run as a single server without <c>--instance</c>).</summary>
    public int ServerInstance => Instance ?? 1;

    /// <summary>The port of instance <paramref name="instance"/>: <c>--port</c> when given (single server only), else base port + instance.</summary>
    public int PortFor(int instance) => Port ?? BasePort + instance;

    /// <summary>The launcher's front door: the one URL users open.</summary>
    public string FrontDoorUrl => ChatSample.ServerInstance.LoopbackUrl(BasePort);

    /// <summary>Reads the switches; throws <see cref="ArgumentException"/> with a message for the user when one is wrong.</summary>
    public static ChatSampleCommandLine Parse(IReadOnlyList<string> args)
    {
        int instances = DefaultInstances, basePort = DefaultBasePort;
        int? instance = null, port = null, parentProcessId = null;
        string databaseFile = DefaultDatabaseFile;
        var others = new List<string>();

        for (var i = 0; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "--instances": instances = ReadInt(args, ref i, min: 1, max: 16); break;
                case "--instance": instance = ReadInt(args, ref i, min: 1, max: 1000); break;
                case "--port": port = ReadInt(args, ref i, min: 1, max: 65535); break;
                case "--base-port": basePort = ReadInt(args, ref i, min: 1, max: 65535 - 1000); break;
                case "--parent-pid": parentProcessId = ReadInt(args, ref i, min: 1, max: int.MaxValue); break;
                case "--db": databaseFile = ReadValue(args, ref i); break;
                default: others.Add(args[i]); break;
            }
        }

        if (port is not null && instance is null && instances > 1)
        {
            throw new ArgumentException("--port sets the port of a single server; with several instances use --base-port (instance N listens on base port + N).");
        }

        return new ChatSampleCommandLine(instances, instance, port, basePort, Path.GetFullPath(databaseFile), parentProcessId, others);
    }

    private static string ReadValue(IReadOnlyList<string> args, ref int i)
    {
        var name = args[i];
        if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
        {
            throw new ArgumentException($"{name} needs a value.");
        }
        return args[++i];
    }

    private static int ReadInt(IReadOnlyList<string> args, ref int i, int min, int max)
    {
        var name = args[i];
        var text = ReadValue(args, ref i);
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw new ArgumentException($"{name} must be a whole number from {min} to {max}; got '{text}'.");
        }
        return value;
    }
}

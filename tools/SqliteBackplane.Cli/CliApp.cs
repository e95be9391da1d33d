using Microsoft.Extensions.Options;
using SqliteBackplane.Maintenance;

namespace SqliteBackplane.Cli;

/// <summary>Entry point of <c>sqlite-backplane</c>: parses the command line, runs one command, maps failures to exit codes.</summary>
internal static class CliApp
{
    public const string Usage = """
        sqlite-backplane: inspect and maintain a SqliteBackplane database file.

        Usage: sqlite-backplane <command> --db <path> [--prefix <prefix>] [options]

        Commands:
          stats     Row counts, file and WAL sizes, oldest row age, nodes.       [--json] [--node-timeout <s>]
          nodes     Every node with heartbeat age, live or dead, connections.    [--json] [--node-timeout <s>]
          clean     Delete expired rows and dead nodes now (as the reaper does). [--node-timeout <s>] [--busy-timeout <s>]
          compact   Write a compacted copy with VACUUM INTO; the live file is     [--output <path>] [--force] [--node-timeout <s>]
                    never changed. Refuses while a node is live unless --force.
          tail      Follow the log: id, hub, kind, targets, payloads truncated.   [--count <n>] [--last <n>] [--interval <ms>] [--width <n>]
                    Stops after --count rows, or on Ctrl+C.

        Options:
          --db <path>           The database file, or a connection string such as "Data Source=/var/lib/app/signalr.db".
          --prefix <prefix>     The table prefix (default signalr_).
          --node-timeout <s>    A node is dead when its heartbeat is older than this (default 10, as the library).
          --busy-timeout <s>    How long a write waits for the database write lock (default 5).

        Exit codes: 0 success, 1 failed or refused, 2 usage error, 3 database missing, not SQLite, or not a backplane.
        """;

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (args.Count == 0 || args[0] is "help" or "--help" or "-h" or "-?")
        {
            await output.WriteLineAsync(Usage);
            return args.Count == 0 ? ExitCodes.Usage : ExitCodes.Success;
        }

        var command = args[0];
        try
        {
            var arguments = CliArguments.Parse(command, args.Skip(1).ToList());
            var maintenance = new SqliteBackplaneMaintenance(arguments.ToOptions());
            return command switch
            {
                "stats" => await StatsCommand.RunAsync(maintenance, arguments, output, cancellationToken),
                "nodes" => await NodesCommand.RunAsync(maintenance, arguments, output, cancellationToken),
                "clean" => await CleanCommand.RunAsync(maintenance, output, cancellationToken),
                "compact" => await CompactCommand.RunAsync(maintenance, arguments, output, cancellationToken),
                "tail" => await TailCommand.RunAsync(maintenance, arguments, output, cancellationToken),
                _ => throw new UsageException($"Unknown command '{command}'."),
            };
        }
        catch (UsageException ex)
        {
            await error.WriteLineAsync($"sqlite-backplane: {ex.Message}");
            await error.WriteLineAsync("Run 'sqlite-backplane help' for usage.");
            return ExitCodes.Usage;
        }
        catch (OptionsValidationException ex)
        {
            foreach (var failure in ex.Failures)
            {
                await error.WriteLineAsync($"sqlite-backplane: {failure}");
            }

            return ExitCodes.Usage;
        }
        catch (NotABackplaneException ex)
        {
            await error.WriteLineAsync($"sqlite-backplane: {ex.Message}");
            return ExitCodes.NotABackplane;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await error.WriteLineAsync($"sqlite-backplane: {command} interrupted.");
            return ExitCodes.Interrupted;
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or TimeoutException or ArgumentException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"sqlite-backplane: {ex.Message}");
            return ExitCodes.Failed;
        }
    }
}

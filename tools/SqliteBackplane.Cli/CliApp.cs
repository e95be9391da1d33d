using System.CommandLine;
using System.CommandLine.Help;
using Microsoft.Extensions.Options;
using SqliteBackplane.Maintenance;

namespace SqliteBackplane.Cli;

/// <summary>
/// Entry point of <c>sqlite-backplane</c>: System.CommandLine parses the command line and prints help; one command
/// runs; failures map to the exit codes in <see cref="ExitCodes"/>.
/// </summary>
internal static class CliApp
{
    private const string Description = """
        sqlite-backplane: inspect and maintain a SqliteBackplane database file.

        Exit codes: 0 success, 1 failed or refused, 2 usage error, 3 database missing, not SQLite, or not a backplane.
        """;

    private delegate Task<int> CommandRun(SqliteBackplaneMaintenance maintenance, CliArguments arguments, TextWriter output, TextWriter error, CancellationToken cancellationToken);

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var parsed = Root.Parse(args.Count == 1 && args[0] == "help" ? ["--help"] : args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var parseError in parsed.Errors)
            {
                await error.WriteLineAsync($"sqlite-backplane: {parseError.Message}");
            }

            await error.WriteLineAsync("Run 'sqlite-backplane --help' for usage.");
            return ExitCodes.Usage;
        }

        // Ctrl+C is handled by Program (the first one ends tail cleanly), not by System.CommandLine.
        var invocation = new InvocationConfiguration { Output = output, Error = error, ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false };
        return await parsed.InvokeAsync(invocation, cancellationToken);
    }

    // Built once: the options are shared by the commands, and actions write where the invocation says.
    private static readonly Command Root = BuildCommands();

    private static Command BuildCommands()
    {
        // Named as the tool is installed, whatever the process's file name is.
        var root = new Command("sqlite-backplane", Description) { new HelpOption(), new VersionOption() };
        Add(root, "stats", "Row counts, file and WAL sizes, oldest row age, nodes.",
            [CliArguments.Json, CliArguments.NodeTimeout], (maintenance, arguments, writer, _, token) => StatsCommand.RunAsync(maintenance, arguments, writer, token));
        Add(root, "nodes", "Every node with heartbeat age, live or dead, connections.",
            [CliArguments.Json, CliArguments.NodeTimeout], (maintenance, arguments, writer, _, token) => NodesCommand.RunAsync(maintenance, arguments, writer, token));
        Add(root, "clean", "Delete expired rows and dead nodes now (as the reaper does).",
            [CliArguments.NodeTimeout, CliArguments.BusyTimeout], (maintenance, _, writer, _, token) => CleanCommand.RunAsync(maintenance, writer, token));
        Add(root, "compact", "Write a compacted copy with VACUUM INTO; the live file is never changed. Refuses while a node is live unless --force.",
            [CliArguments.Output, CliArguments.Force, CliArguments.NodeTimeout], (maintenance, arguments, writer, _, token) => CompactCommand.RunAsync(maintenance, arguments, writer, token));
        Add(root, "tail", "Follow the log: id, hub, kind, targets, payloads truncated. Stops after --count rows, or on Ctrl+C.",
            [CliArguments.Count, CliArguments.Last, CliArguments.Interval, CliArguments.Width], TailCommand.RunAsync);
        Add(root, "top", "A live view of the nodes (reader lag, connections, messages in and out per second) and the log's rate, every second. q or Ctrl+C quits.",
            [CliArguments.TopInterval, CliArguments.Iterations, CliArguments.NodeTimeout], TopCommand.RunAsync);
        return root;

        void Add(Command parent, string name, string description, Option[] options, CommandRun run)
        {
            var command = new Command(name, description) { CliArguments.Db, CliArguments.Prefix };
            foreach (var option in options)
            {
                command.Options.Add(option);
            }

            command.SetAction((result, token) => RunCommandAsync(name, result, run, result.InvocationConfiguration.Output, result.InvocationConfiguration.Error, token));
            parent.Subcommands.Add(command);
        }
    }

    private static async Task<int> RunCommandAsync(string name, ParseResult result, CommandRun run, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        try
        {
            var arguments = CliArguments.From(result);
            var maintenance = new SqliteBackplaneMaintenance(arguments.ToOptions());
            return await run(maintenance, arguments, output, error, cancellationToken);
        }
        catch (UsageException ex)
        {
            await error.WriteLineAsync($"sqlite-backplane: {ex.Message}");
            await error.WriteLineAsync("Run 'sqlite-backplane --help' for usage.");
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
            await error.WriteLineAsync($"sqlite-backplane: {name} interrupted.");
            return ExitCodes.Interrupted;
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or TimeoutException or ArgumentException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"sqlite-backplane: {ex.Message}");
            return ExitCodes.Failed;
        }
    }
}

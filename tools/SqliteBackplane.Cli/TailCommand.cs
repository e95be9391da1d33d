using SqliteBackplane.Maintenance;
namespace SqliteBackplane.Cli;

/// <summary>
/// <c>tail</c>: prints the last rows of the log, then follows it by polling every <c>--interval</c>; each poll is one
/// short autocommit read (<see cref="MaintenanceLogReader.ReadLogAsync"/>). Ends after <c>--count</c> rows or on
/// Ctrl+C. When it starts waiting for new rows it says so once on the error stream, so the rows alone go to output.
/// </summary>
internal static class TailCommand
{
    private const int PageSize = 256;

    public static async Task<int> RunAsync(SqliteBackplaneMaintenance maintenance, CliArguments arguments, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var position = await maintenance.Log.GetLogPositionAsync(arguments.LastValue, cancellationToken);
        var printed = 0;
        var following = false;
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var entries = await maintenance.Log.ReadLogAsync(position, PageSize, cancellationToken);
                foreach (var entry in entries)
                {
                    LogFormatter.Write(output, entry, arguments.WidthValue);
                    position = entry.Id;
                    if (++printed == arguments.CountValue)
                    {
                        await output.FlushAsync(CancellationToken.None);
                        return ExitCodes.Success;
                    }
                }

                await output.FlushAsync(CancellationToken.None);
                if (entries.Count < PageSize)
                {
                    if (!following)
                    {
                        following = true;
                        await error.WriteLineAsync($"sqlite-backplane: following the log of {maintenance.DatabasePath} after id {position} (Ctrl+C to stop).");
                        await error.FlushAsync(CancellationToken.None);
                    }

                    await Task.Delay(arguments.IntervalValue, cancellationToken);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl+C is how a follow ends.
            return ExitCodes.Success;
        }
    }
}

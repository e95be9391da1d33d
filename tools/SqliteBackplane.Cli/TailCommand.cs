using SqliteBackplane.Maintenance;

namespace SqliteBackplane.Cli;

/// <summary>
/// <c>tail</c>: prints the last rows of the log, then follows it by polling every <c>--interval</c>; each poll is one
/// short autocommit read. Ends after <c>--count</c> rows or on Ctrl+C.
/// </summary>
internal static class TailCommand
{
    private const int PageSize = 256;

    public static async Task<int> RunAsync(SqliteBackplaneMaintenance maintenance, CliArguments arguments, TextWriter output, CancellationToken cancellationToken)
    {
        using var reader = new BackplaneLogReader(maintenance);
        var cursor = reader.CursorBeforeLast(arguments.Last);
        var printed = 0;
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var rows = reader.ReadAfter(cursor, PageSize);
                foreach (var row in rows)
                {
                    LogFormatter.Write(output, row, arguments.Width);
                    cursor = row.Id;
                    if (++printed == arguments.Count)
                    {
                        await output.FlushAsync(CancellationToken.None);
                        return ExitCodes.Success;
                    }
                }

                await output.FlushAsync(CancellationToken.None);
                if (rows.Count < PageSize)
                {
                    await Task.Delay(arguments.Interval, cancellationToken);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl+C is how a follow ends.
            return ExitCodes.Success;
        }
        catch (Microsoft.Data.Sqlite.SqliteException ex)
        {
            throw new IOException($"Reading the log of '{maintenance.DatabasePath}' failed: SQLite error {ex.SqliteErrorCode} ({ex.Message.TrimEnd('.')}).", ex);
        }
    }
}

namespace SqliteBackplane.Cli;

/// <summary>The process exit codes of <c>sqlite-backplane</c>; documented in docs/operations.md.</summary>
internal static class ExitCodes
{
    /// <summary>The command did what it was asked.</summary>
    public const int Success = 0;

    /// <summary>The command failed or refused (a SQLite error, the write lock timed out, compact found live nodes).</summary>
    public const int Failed = 1;

    /// <summary>The command line is wrong: unknown command or option, missing or invalid value.</summary>
    public const int Usage = 2;

    /// <summary>The database does not exist, is not a SQLite database, or has no backplane tables with the prefix.</summary>
    public const int NotABackplane = 3;

    /// <summary>Interrupted (Ctrl+C) before it finished; <c>tail</c> treats Ctrl+C as its normal end instead.</summary>
    public const int Interrupted = 130;
}

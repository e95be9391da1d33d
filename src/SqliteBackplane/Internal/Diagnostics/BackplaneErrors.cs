using Microsoft.Data.Sqlite;

namespace SqliteBackplane.Internal.Diagnostics;

/// <summary>Every exception message the backplane produces, each stating the problem and then the fix.</summary>
internal static class BackplaneErrors
{
    // SQLite primary result codes (https://www.sqlite.org/rescode.html).
    public const int SqliteBusy = 5;
    public const int SqliteLocked = 6;
    public const int SqliteReadOnly = 8;
    public const int SqliteIoError = 10;
    public const int SqliteCorrupt = 11;
    public const int SqliteFull = 13;
    public const int SqliteCantOpen = 14;
    public const int SqliteNotADatabase = 26;

    public static InvalidOperationException DirectoryMissing(string databasePath) => new(
        $"Cannot open the SQLite backplane database '{databasePath}': the directory '{Path.GetDirectoryName(databasePath)}' does not exist. " +
        "Create the directory or point the connection string's Data Source at an existing one.");

    public static InvalidOperationException CannotOpen(string databasePath, Exception inner) => new(
        $"Cannot open the SQLite backplane database '{databasePath}': {Describe(inner)} " +
        "Check that the path is a file this process may read and write.", inner);

    public static InvalidOperationException ReadOnly(string databasePath, Exception? inner = null) => new(
        $"The SQLite backplane database '{databasePath}' is read-only, but the backplane must write to it. " +
        "Give this process write access to the file and its directory (SQLite also creates '-wal' and '-shm' files beside it).", inner);

    public static InvalidOperationException NotADatabase(string databasePath, Exception inner) => new(
        $"'{databasePath}' is not a SQLite database (or is encrypted or corrupt). " +
        "Point the backplane at a new file or at an existing SQLite database.", inner);

    public static InvalidOperationException WalUnavailable(string databasePath, string journalMode) => new(
        $"The SQLite backplane database '{databasePath}' could not be switched to WAL mode (it reports journal_mode '{journalMode}'). " +
        "Use a local file system that supports shared memory (not a network share).");

    public static InvalidOperationException SchemaMissing(string databasePath, string tablePrefix) => new(
        $"The SQLite backplane tables with prefix '{tablePrefix}' do not exist in '{databasePath}', and " +
        $"{nameof(SqliteBackplaneOptions)}.{nameof(SqliteBackplaneOptions.AutoCreateSchema)} is false. " +
        "Set AutoCreateSchema to true once, or create the schema in a deployment step.");

    public static InvalidOperationException ResumeTableMissing(string databasePath, string tablePrefix) => new(
        $"{nameof(SqliteBackplaneOptions)}.{nameof(SqliteBackplaneOptions.EnableResume)} needs the table '{tablePrefix}resumable' in '{databasePath}', which does not exist, and " +
        $"{nameof(SqliteBackplaneOptions)}.{nameof(SqliteBackplaneOptions.AutoCreateSchema)} is false. " +
        "Start once with AutoCreateSchema true (it adds the missing table and touches nothing else), or create it in a deployment step.");

    public static InvalidOperationException SchemaTooNew(string databasePath, string version) => new(
        $"The SQLite backplane database '{databasePath}' has schema version {version}, newer than this library understands. " +
        "Upgrade the SqliteBackplane package in this application, or point it at another file or table prefix.");

    public static TimeoutException WriteLockTimeout(string databasePath, TimeSpan timeout) => new(
        $"Timed out after {timeout.TotalSeconds:0.###} s waiting for the write lock on the SQLite backplane database '{databasePath}'. " +
        "Another process holds a long write transaction; find it, or raise SqliteBackplaneOptions.BusyTimeout.");

    public static Exception WriteFailed(string databasePath, Exception inner) => inner switch
    {
        SqliteException { SqliteErrorCode: SqliteBusy or SqliteLocked } => new TimeoutException(
            $"The SQLite backplane database '{databasePath}' stayed locked by another connection past the busy timeout. " +
            "Find the process holding a long transaction, or raise SqliteBackplaneOptions.BusyTimeout.", inner),
        SqliteException { SqliteErrorCode: SqliteFull } => new IOException(
            $"The disk holding the SQLite backplane database '{databasePath}' is full; the message was not sent. Free space on it.", inner),
        SqliteException { SqliteErrorCode: SqliteReadOnly } => ReadOnly(databasePath, inner),
        SqliteException { SqliteErrorCode: SqliteCorrupt or SqliteNotADatabase } => new IOException(
            $"The SQLite backplane database '{databasePath}' is corrupt; the message was not sent. Stop the processes using it and move it aside.", inner),
        SqliteException => new IOException($"Writing to the SQLite backplane database '{databasePath}' failed: {Describe(inner)}", inner),
        _ => inner,
    };

    /// <summary>
    /// A new send while the file is known to be failing: the same type and message as the failure that the writer
    /// met (a fresh instance, so concurrent callers never share one exception object), with it as the inner exception.
    /// </summary>
    public static Exception FileStillFailing(Exception failure) => failure switch
    {
        TimeoutException => new TimeoutException(failure.Message, failure),
        IOException => new IOException(failure.Message, failure),
        InvalidOperationException => new InvalidOperationException(failure.Message, failure),
        _ => new IOException(failure.Message, failure),
    };

    public static TimeoutException BackpressureTimeout(string databasePath, TimeSpan waited) => new(
        $"A send waited {waited.TotalSeconds:0.###} s for the SQLite backplane on '{databasePath}' to catch up and was not sent: " +
        "sends are paced by delivery, and this process's writer or reader, or a local client that is still reading, stayed behind " +
        "for that long. Look for a process holding the database's write lock, a reader that cannot read the file, or raise " +
        "SqliteBackplaneOptions.BusyTimeout.");

    public static TimeoutException RemoteHoldTimeout(string databasePath, TimeSpan waited, long position) => new(
        $"A send waited {waited.TotalSeconds:0.###} s for the SQLite backplane on '{databasePath}' to catch up and was not sent: " +
        $"a client that is still reading, only slowly, on another process sharing the file is behind (log position {position}), and " +
        "sends on every process are paced by it so that it loses nothing. Look for an overloaded process or client, or raise " +
        "SqliteBackplaneOptions.BusyTimeout; a client that stops reading stops pacing senders after a second.");

    public static InvalidOperationException Stopped(string databasePath) => new(
        $"The SQLite backplane on '{databasePath}' has stopped because the application is shutting down; the message was not sent.");

    public static InvalidOperationException MessageTooLarge(int size, int limit) => new(
        $"The message is {size} bytes once serialized, more than SqliteBackplaneOptions.MaxMessageBytes ({limit}). " +
        "Send less data per message or raise MaxMessageBytes.");

    public static IOException ConnectionDoesNotExist(string connectionId) => new($"Connection '{connectionId}' does not exist.");

    public static IOException LocalConnectionDisconnected(string connectionId) => new($"Connection '{connectionId}' disconnected.");

    public const string RemoteConnectionDisconnected = "Connection disconnected.";

    public const string InvocationCanceled = "Invocation canceled by the server.";

    public static InvalidOperationException WrongConnectionForInvocation(string connectionId, string invocationId) => new(
        $"Connection ID '{connectionId}' is not valid for invocation ID '{invocationId}'.");

    public static string Describe(Exception ex) => ex is SqliteException sqlite
        ? $"SQLite error {sqlite.SqliteErrorCode} ({sqlite.Message.TrimEnd('.')})."
        : ex.Message;
}

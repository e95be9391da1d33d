using Microsoft.Data.Sqlite;

namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// What the writer loop tells its owner, on the writer thread. The writer owns this contract and knows nothing of
/// what implements it, so the data path runs one way: callers queue operations, the writer commits, and the owner
/// (the node) reacts.
/// </summary>
internal interface IWriterEvents
{
    /// <summary>Right after a commit, before the batch's callers see their results.</summary>
    void Committed(WriterContext context);

    /// <summary>After every batch, committed or not; <paramref name="fileFailure"/> is <see cref="WriterLoop.FileFailure"/>.</summary>
    void BatchFinished(Exception? fileFailure);

    /// <summary>
    /// The file was deleted or replaced while in use: <paramref name="connection"/> is open on the new file, and must
    /// be set up (schema, registration) before the writer writes on it.
    /// </summary>
    void FileReplaced(SqliteConnection connection);
}

namespace SqliteBackplane.Client;

/// <summary>Options of <c>WithSqliteBackplaneResume</c>.</summary>
public sealed class SqliteBackplaneResumeOptions
{
    /// <summary>
    /// Gets or sets what runs when a reconnect could not resume (the window passed, the missed messages are no longer in
    /// the log, the user changed, the token was refused, another live connection resumed it, the log could not be read):
    /// messages sent while the client was away are lost and the new connection is in no group, so the app should reload
    /// its state and join its groups again. The argument is the reason (<c>expired</c>, <c>truncated</c>, <c>user</c>, <c>token</c>,
    /// <c>resumed</c>, <c>overflow</c>, <c>failed</c>, or a later one; see docs/resume.md). It runs on the connection's receive loop
    /// before any later message reaches a handler: keep it short and start long work without awaiting it.
    /// </summary>
    public Action<string>? OnGap { get; set; }
}

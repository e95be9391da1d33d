namespace SqliteBackplane.Cli;

/// <summary>A mistake on the command line; the message says what to change.</summary>
internal sealed class UsageException(string message) : Exception(message);

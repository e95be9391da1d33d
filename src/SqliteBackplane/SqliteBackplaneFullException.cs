namespace SqliteBackplane;

/// <summary>
/// Thrown by a send when the backplane log is at its capacity and <see cref="SqliteBackplaneOptions.LogFullMode"/> is
/// <see cref="SqliteBackplaneLogFullMode.RejectNewMessages"/>: readers are not keeping up, or a capacity is too small.
/// The message was not sent.
/// </summary>
public sealed class SqliteBackplaneFullException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">The message, naming the capacity that applied and how to change it.</param>
    /// <param name="capacity">The capacity that applied to the send.</param>
    public SqliteBackplaneFullException(string message, int capacity)
        : base(message)
    {
        Capacity = capacity;
    }

    /// <summary>The number of log rows the send's capacity allows.</summary>
    public int Capacity { get; }
}

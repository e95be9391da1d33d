namespace SqliteBackplane.Internal.Flow;

/// <summary>A local connection's share of the pacing state: writes waiting for it, and whether it holds senders back.</summary>
internal class PacedConnection
{
    /// <summary>Messages handed to the connection whose write has not completed (it is not reading fast enough).</summary>
    public int PendingWrites;

    /// <summary>
    /// Of <see cref="PendingWrites"/>, the writes of a resume's replay: bounded by the replay cap and already in the log,
    /// they count toward the connection's bound but do not hold senders back (a client catching up after a move must not
    /// stall every sender while it reads its replay).
    /// </summary>
    public int ReplayPending;

    /// <summary>1 while the connection has reached the pacing threshold and not drained to half of it.</summary>
    public int Pressured;

    /// <summary>1 while a pressured connection has completed no write for <see cref="ConnectionPressure.StallAfter"/>.</summary>
    public int Stalled;

    /// <summary>Time this process ran while the pressured connection completed no write (milliseconds).</summary>
    public long SilentMilliseconds;
}

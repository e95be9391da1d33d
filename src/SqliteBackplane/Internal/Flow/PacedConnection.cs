namespace SqliteBackplane.Internal.Flow;

/// <summary>A local connection's share of the pacing state: writes waiting for it, and whether it holds senders back.</summary>
internal class PacedConnection
{
    /// <summary>Messages handed to the connection whose write has not completed (it is not reading fast enough).</summary>
    public int PendingWrites;

    /// <summary>1 while the connection has reached the pacing threshold and not drained to half of it.</summary>
    public int Pressured;

    /// <summary>1 while a pressured connection has completed no write for <see cref="ConnectionPressure.StallAfter"/>.</summary>
    public int Stalled;

    /// <summary>Time this process ran while the pressured connection completed no write (milliseconds).</summary>
    public long SilentMilliseconds;
}

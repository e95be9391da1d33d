namespace SqliteBackplane.Internal.Delivery;

/// <summary>
/// One local connection's state: writes not yet completed (the per-connection bound), what was reported about it, and
/// the removal of its rows, started on abort or on disconnect, whichever comes first.
/// </summary>
internal sealed class ConnectionEntry
{
    public CancellationTokenRegistration AbortRegistration;

    public Task? Removal;

    public bool Disconnected;

    // Log rows handed to the connection whose write has not completed yet (it is not reading fast enough).
    public int PendingWrites;

    public bool LoggedDropping;

    public bool LoggedFailure;
}

using SqliteBackplane.Internal.Flow;
namespace SqliteBackplane.Internal.Delivery;

/// <summary>
/// One local connection's state: writes not yet completed (<see cref="PacedConnection"/>: the per-connection bound and
/// the pacing of senders), what was reported about it, and the removal of its rows, started on abort or on disconnect,
/// whichever comes first.
/// </summary>
internal sealed class ConnectionEntry : PacedConnection
{
    public CancellationTokenRegistration AbortRegistration;

    public Task? Removal;

    public bool Disconnected;

    public bool LoggedDropping;

    /// <summary>A resume connection closed for falling too far behind (instead of dropping its messages), once.</summary>
    public bool ClosedForResume;

    public bool LoggedFailure;

    /// <summary>Opted in to resume: every log message to it is preceded by a position marker, and it leaves a resume record.</summary>
    public bool Resumable;
}

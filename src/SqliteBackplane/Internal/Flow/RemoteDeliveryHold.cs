namespace SqliteBackplane.Internal.Flow;

/// <summary>
/// The other nodes' delivery holds, as this node's senders see them: the lowest log position another live node
/// published while one of its connections fell behind (<see cref="Hold"/>), and the log's end as this node's writer
/// last saw it. Sends wait while the log's end, plus this node's queued sends, is <see cref="MaxLead"/> or more past
/// that hold, so a flood from one process slows down for a reading client on another instead of passing its drop
/// bound. <see cref="SendAdmission"/> asks it; the node's delivery holds reader fills it.
/// </summary>
internal sealed class RemoteDeliveryHold(int maxLead, Func<int> queued)
{
    /// <summary>No hold: no other live node has a connection behind.</summary>
    private const long NoHold = long.MaxValue;

    private long _hold = NoHold;
    private long _logEnd;
    private long _waits;

    /// <summary>
    /// How far the log may run past the lowest hold of another live node: a quarter of the drop bound, so what is queued
    /// or in flight when senders notice the hold still fits under it.
    /// </summary>
    public int MaxLead { get; } = maxLead;

    /// <summary>Called every recheck while sends wait on a remote hold, to read the holds again (one read in flight at a time).</summary>
    public Action? Stale { get; set; }

    /// <summary>The lowest hold another live node published, as last read; null when none holds.</summary>
    public long? Hold => Volatile.Read(ref _hold) is var hold and not NoHold ? hold : null;

    /// <summary>Whether sends must wait because the log ran <see cref="MaxLead"/> past another node's hold.</summary>
    public bool LeadExceeded
    {
        get
        {
            var hold = Volatile.Read(ref _hold);
            return hold != NoHold && Volatile.Read(ref _logEnd) + queued() - hold >= MaxLead;
        }
    }

    /// <summary>Sends that waited on another node's hold, since the node started.</summary>
    public long Waits => Interlocked.Read(ref _waits);

    /// <summary>The log's end as this node's writer last saw it (the id it appended last). Writer thread.</summary>
    public void NoteLogEnd(long lastId)
    {
        if (lastId > Volatile.Read(ref _logEnd))
        {
            Volatile.Write(ref _logEnd, lastId);
        }
    }

    /// <summary>Records the lowest hold of the other live nodes, just read (null: none).</summary>
    internal void Set(long? hold) => Volatile.Write(ref _hold, hold ?? NoHold);

    /// <summary>Counts a send that is about to wait, when it waits on another node's hold.</summary>
    internal void CountWaitIfHeld()
    {
        if (LeadExceeded)
        {
            Interlocked.Increment(ref _waits);
        }
    }
}

namespace SqliteBackplane.Benchmarks;

/// <summary>
/// What one receiver got from one sender whose sequence numbers count up from 0: distinct, duplicated and out-of-order
/// messages, and when the last new one arrived. Not thread-safe: SignalR runs one connection's handlers one at a time.
/// </summary>
public sealed class SequenceTracker
{
    private byte[] _seen = new byte[4096];
    private long _highest = -1;
    private long _distinct;
    private long _lastReceived;

    public long Distinct => Volatile.Read(ref _distinct);

    public long Duplicates { get; private set; }

    /// <summary>Messages that arrived after one with a higher sequence number.</summary>
    public long Reordered { get; private set; }

    public long LastReceived => Volatile.Read(ref _lastReceived);

    /// <summary>Records one arrival; true when it is the first of this sequence number.</summary>
    public bool Record(long seq, long timestamp)
    {
        if (seq < 0 || seq > int.MaxValue / 2)
        {
            Duplicates++;
            return false;
        }
        if (seq >= _seen.Length)
        {
            Array.Resize(ref _seen, (int)Math.Max(_seen.Length * 2L, seq + 1));
        }
        if (_seen[seq] != 0)
        {
            Duplicates++;
            return false;
        }
        _seen[seq] = 1;
        if (seq < _highest)
        {
            Reordered++;
        }
        else
        {
            _highest = seq;
        }
        Volatile.Write(ref _lastReceived, timestamp);
        Volatile.Write(ref _distinct, _distinct + 1);
        return true;
    }
}

using System.Diagnostics;
using Microsoft.AspNetCore.SignalR.Client;

namespace SqliteBackplane.Benchmarks;

/// <summary>A client that counts (sender, seq) messages, so lost and duplicated deliveries are found.</summary>
public sealed class CountingReceiver
{
    public const int WarmupSender = 1000;

    private readonly byte[][] _seen;
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _distinct;
    private int _duplicates;
    private int _ignored;
    private long _lastReceived;

    public CountingReceiver(HubConnection connection, int senders, int perSender)
    {
        Connection = connection;
        Expected = senders * perSender;
        _seen = Enumerable.Range(0, senders).Select(_ => new byte[perSender]).ToArray();
        if (Expected == 0)
        {
            _done.TrySetResult();
        }
        // SignalR runs one connection's handlers one at a time, so the counts need no lock per connection.
        connection.On<int, long>(BenchHub.CountMethod, (sender, seq) =>
        {
            if (sender == WarmupSender)
            {
                Interlocked.Increment(ref _ignored);
                return;
            }
            if (sender < 0 || sender >= _seen.Length || seq < 0 || seq >= _seen[sender].Length)
            {
                Interlocked.Increment(ref _duplicates);
                return;
            }
            if (_seen[sender][seq]++ != 0)
            {
                Interlocked.Increment(ref _duplicates);
                return;
            }
            Volatile.Write(ref _lastReceived, Stopwatch.GetTimestamp());
            if (Interlocked.Increment(ref _distinct) == Expected)
            {
                _done.TrySetResult();
            }
        });
    }

    public HubConnection Connection { get; }

    public int Expected { get; }

    public int Distinct => Volatile.Read(ref _distinct);

    public int Duplicates => Volatile.Read(ref _duplicates);

    public int Ignored => Volatile.Read(ref _ignored);

    public long LastReceived => Volatile.Read(ref _lastReceived);

    public Task Done => _done.Task;
}

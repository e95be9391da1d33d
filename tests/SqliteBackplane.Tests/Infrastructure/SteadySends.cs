using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR.Client;
using SqliteBackplane.TestServer;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// A steady send load through real clients: every client sends a message of <c>payloadChars</c> characters to
/// one random other client once per <c>interval</c>, so the log gets clients.Count / interval rows a second and
/// every process's reader has work all the time. Counts what was acknowledged and what arrived.
/// </summary>
public sealed class SteadySends(IReadOnlyList<TestClient> clients, TimeSpan interval, int payloadChars)
{
    private long _acknowledged;
    private long _received;

    public long Acknowledged => Interlocked.Read(ref _acknowledged);

    public long Received => Interlocked.Read(ref _received);

    public ConcurrentQueue<string> Failures { get; } = new();

    /// <summary>Sends until <paramref name="stop"/> is cancelled; returns when every sender has stopped.</summary>
    public Task RunAsync(CancellationToken stop)
    {
        foreach (var client in clients)
        {
            client.Connection.Remove(ClientMethods.Receive);
            client.Connection.On<string>(ClientMethods.Receive, _ => Interlocked.Increment(ref _received));
        }

        return Task.WhenAll(clients.Select((client, index) => Task.Run(() => SendAsync(client, index, stop))));
    }

    private async Task SendAsync(TestClient client, int index, CancellationToken stop)
    {
        var random = new Random(index);
        var padding = new string('x', payloadChars);
        using var timer = new PeriodicTimer(interval);
        try
        {
            // Spread the senders over the interval so the load is steady rather than in bursts.
            await Task.Delay(interval * random.NextDouble(), stop);
            while (await timer.WaitForNextTickAsync(stop))
            {
                var target = clients[random.Next(clients.Count)];
                try
                {
                    await client.Connection.InvokeAsync(nameof(TestHub.SendConnection), target.ConnectionId, padding, stop);
                    Interlocked.Increment(ref _acknowledged);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Failures.Enqueue($"{client.Description}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }
}

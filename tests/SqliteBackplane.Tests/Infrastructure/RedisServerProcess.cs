using SqliteBackplane.TestSupport;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// A <c>redis-server</c> (Debian's package; test.sh installs it) on a free loopback port, without persistence, for
/// the conformance suite against Microsoft's Redis backplane: the shared <see cref="LoopbackRedisServer"/>. Disposing
/// kills it by its process id.
/// </summary>
public sealed class RedisServerProcess : IAsyncDisposable
{
    private readonly LoopbackRedisServer _server;

    private RedisServerProcess(LoopbackRedisServer server) => _server = server;

    /// <summary>The port redis-server listens on, on 127.0.0.1.</summary>
    public int Port => _server.Port;

    /// <summary>The StackExchange.Redis configuration string for this server.</summary>
    public string Configuration => _server.Configuration;

    /// <summary>Starts redis-server and waits until it accepts connections.</summary>
    public static async Task<RedisServerProcess> StartAsync()
    {
        if (LoopbackRedisServer.UnavailableReason is { } reason)
        {
            throw new InvalidOperationException($"The conformance suite cannot run against Microsoft's Redis backplane: {reason}.");
        }

        return new RedisServerProcess(await LoopbackRedisServer.StartAsync());
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    /// <summary>What redis-server printed, for failure messages.</summary>
    public override string ToString() => _server.ToString();
}

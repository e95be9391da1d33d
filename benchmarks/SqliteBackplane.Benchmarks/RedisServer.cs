using SqliteBackplane.TestSupport;

namespace SqliteBackplane.Benchmarks;

/// <summary>
/// A redis-server (Debian's package) for the Redis backplane setup: started by the harness on a free loopback port,
/// without persistence, and stopped by its process id (the shared <see cref="LoopbackRedisServer"/>).
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly LoopbackRedisServer _server;

    private RedisServer(LoopbackRedisServer server) => _server = server;

    /// <summary>host:port, for <c>AddStackExchangeRedis</c>.</summary>
    public string Address => _server.Configuration;

    public int Pid => _server.ProcessId;

    /// <summary>Null when redis-server can be started; otherwise why the Redis setups are skipped.</summary>
    public static string? UnavailableReason => LoopbackRedisServer.UnavailableReason is { } reason
        ? $"{reason}; the Redis backplane setups are skipped"
        : null;

    public static async Task<RedisServer> StartAsync() => new(await LoopbackRedisServer.StartAsync());

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}

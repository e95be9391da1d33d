using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Conformance;

/// <summary>
/// The same cross-process suite against Microsoft's Redis backplane (AddStackExchangeRedis, one redis-server per
/// class): it shows where moving between the two changes nothing, and asserts the documented differences
/// (docs/moving-to-redis.md).
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
[Trait(TestCategory.Name, TestCategory.Redis)]
public sealed class RedisConformanceTests(RedisConformanceTests.RedisFixture redis, ITestOutputHelper output)
    : CrossProcessConformanceTests(output), IClassFixture<RedisConformanceTests.RedisFixture>
{
    protected override bool ExpectsGlobalOrder => false;

    protected override bool GroupChangesWaitForAcknowledgement => true;

    protected override bool FailsClientResultsWhenTheOwnerProcessDies => false;

    protected override bool HasPresenceApi => false;

    protected override bool DeliversOnceToAUserListedTwice => false;

    protected override TestServerSettings DefaultSettings() => base.DefaultSettings() with { RedisConfiguration = redis.Server.Configuration };

    /// <summary>One redis-server for the class, on a free loopback port, without persistence.</summary>
    public sealed class RedisFixture : IAsyncLifetime
    {
        private RedisServerProcess? _server;

        public RedisServerProcess Server => _server ?? throw new InvalidOperationException("redis-server has not started.");

        public async Task InitializeAsync() => _server = await RedisServerProcess.StartAsync();

        public async Task DisposeAsync()
        {
            if (_server is not null)
            {
                await _server.DisposeAsync();
            }
        }
    }
}

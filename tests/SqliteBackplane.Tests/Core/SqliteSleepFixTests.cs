using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Tests.Infrastructure;
using Xunit;

namespace SqliteBackplane.Tests.Core;

public class SqliteSleepFixTests
{
    [Fact]
    public async Task After_a_node_starts_SQLite_sleeps_the_time_it_is_asked_for()
    {
        using var database = new TempDatabase();
        using var manager = DirectManagers.Create(database);

        await manager.Node.EnsureStartedAsync().DefaultTimeout();

        // The bundled build reports (and sleeps) 1000 ms for a 1 ms sleep; the replacement sleeps 1 ms.
        Assert.Equal(1, SqliteSleepFix.SqliteSleep(1));
    }
}

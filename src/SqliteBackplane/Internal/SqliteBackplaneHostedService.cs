using Microsoft.Extensions.Hosting;

namespace SqliteBackplane.Internal;

internal sealed class SqliteBackplaneHostedService : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

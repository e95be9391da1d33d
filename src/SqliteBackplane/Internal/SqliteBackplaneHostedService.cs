using System.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace SqliteBackplane.Internal;

/// <summary>
/// Starts the backplane node with the application, so a bad path or file stops startup with a clear message, and
/// on graceful shutdown (after the server has drained its connections) removes this process's rows at once.
/// </summary>
internal sealed class SqliteBackplaneHostedService : IHostedLifecycleService
{
    private readonly SqliteBackplaneOptions _options;
    private readonly ILogger _logger;
    private readonly IMeterFactory? _meterFactory;
    private BackplaneNode? _node;

    public SqliteBackplaneHostedService(IOptions<SqliteBackplaneOptions> options, ILoggerFactory loggerFactory, IServiceProvider services)
    {
        _options = options.Value;
        _logger = loggerFactory.CreateLogger("SqliteBackplane");
        _meterFactory = services.GetService(typeof(IMeterFactory)) as IMeterFactory;
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _node = BackplaneNodeRegistry.Acquire(_options, _logger, _meterFactory);
        await _node.EnsureStartedAsync().WaitAsync(cancellationToken);
    }

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    // After every StopAsync, so the web server has already closed its connections.
    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        if (_node is not { } node)
        {
            return;
        }

        _node = null;
        var stop = node.StopAsync(cancellationToken);
        try
        {
            await stop.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Past the host's shutdown timeout: the node has logged whether its rows were removed. Never fail the
            // host's stop for it; the node finishes (or the process exits) on its own.
            _ = stop.ContinueWith(_ => BackplaneNodeRegistry.Release(node), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            return;
        }

        BackplaneNodeRegistry.Release(node);
    }
}

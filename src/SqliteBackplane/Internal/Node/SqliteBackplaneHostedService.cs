using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SqliteBackplane.Internal.Hosting;

namespace SqliteBackplane.Internal.Node;

/// <summary>
/// Starts the app's backplane node with the application, so a bad path or file stops startup with a clear message,
/// and on graceful shutdown (after the server has drained its connections) stops it, removing this process's rows at
/// once. Never blocks a thread; the container disposes the node afterwards.
/// </summary>
internal sealed class SqliteBackplaneHostedService : IHostedLifecycleService
{
    private readonly SqliteBackplaneOptions _options;
    private readonly AppBackplaneNode _appNode;
    private readonly ILogger _logger;
    private readonly BackplaneDraining _draining;
    private BackplaneNode? _node;

    public SqliteBackplaneHostedService(IOptions<SqliteBackplaneOptions> options, AppBackplaneNode appNode, ILoggerFactory loggerFactory, BackplaneDraining draining)
    {
        _options = options.Value;
        _appNode = appNode;
        _logger = loggerFactory.CreateLogger(BackplaneNode.LogCategory);
        _draining = draining;
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _node = _appNode.GetNode(_options, _logger);
        await _node.EnsureStartedAsync().WaitAsync(cancellationToken);
    }

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    // Before any service stops: from here on new requests get 503 and the health check fails (ApplicationStopping,
    // which SIGTERM fires first, has usually begun it already).
    public Task StoppingAsync(CancellationToken cancellationToken)
    {
        _draining.Begin();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    // After every StopAsync, so the web server has already closed its connections.
    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        if (_node is not { } node)
        {
            return;
        }

        _node = null;
        try
        {
            await node.StopAsync(cancellationToken).WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Past the host's shutdown timeout: the node has logged whether its rows were removed. Never fail the
            // host's stop for it; the node finishes (or the process exits) on its own.
        }
    }
}

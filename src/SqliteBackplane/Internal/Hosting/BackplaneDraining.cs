using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SqliteBackplane.Internal.Diagnostics;

namespace SqliteBackplane.Internal.Hosting;

/// <summary>
/// Whether this process has begun to stop (<see cref="IHostApplicationLifetime.ApplicationStopping"/>, which SIGTERM
/// triggers). From that moment the process takes no new request (<see cref="DrainingStartupFilter"/> answers 503, which a
/// front door retries on another process) and its health check fails, while SignalR closes the connections it holds so
/// their clients resume on the other processes. One per container.
/// </summary>
internal sealed class BackplaneDraining : IDisposable
{
    /// <summary>The log category of the draining event (the node's own).</summary>
    public const string LogCategory = "SqliteBackplane";

    private readonly ILogger _logger;
    private readonly CancellationTokenRegistration _registration;
    private int _draining;
    private long _refused;

    public BackplaneDraining(ILoggerFactory loggerFactory, IHostApplicationLifetime? lifetime = null)
    {
        _logger = loggerFactory.CreateLogger(LogCategory);
        if (lifetime is not null)
        {
            _registration = lifetime.ApplicationStopping.Register(static state => ((BackplaneDraining)state!).Begin(), this);
        }
    }

    /// <summary>True from the moment the process began to stop.</summary>
    public bool IsDraining => Volatile.Read(ref _draining) != 0;

    /// <summary>New requests refused with 503 since draining began (the health check reports it).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Starts draining; only the first call logs.</summary>
    public void Begin()
    {
        if (Interlocked.Exchange(ref _draining, 1) == 0)
        {
            BackplaneEvents.DrainingStarted(_logger);
        }
    }

    /// <summary>Counts one refused request.</summary>
    public void CountRefused() => Interlocked.Increment(ref _refused);

    public void Dispose() => _registration.Dispose();
}

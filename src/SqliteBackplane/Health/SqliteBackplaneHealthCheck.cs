using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SqliteBackplane.Internal.Hosting;
using SqliteBackplane.Internal.Node;
using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane.Health;

/// <summary>
/// Healthy when the file is writable and this process's reader is current; Degraded when the reader lags or another
/// node's heartbeat is late; Unhealthy when the database cannot be written or the process is stopping (so a front door
/// stops sending it clients at once). The description says why.
/// </summary>
internal sealed class SqliteBackplaneHealthCheck : IHealthCheck, IDisposable, IAsyncDisposable
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(10);

    // A queued send that failed after its caller returned keeps the check Degraded this long, so it is seen.
    private static readonly TimeSpan RecentFailureWindow = TimeSpan.FromSeconds(60);

    private readonly BackplaneNodeHold _hold;
    private readonly BackplaneNode _node;
    private readonly TimeSpan _maxReaderLag;
    private readonly BackplaneDraining? _draining;

    public SqliteBackplaneHealthCheck(IOptions<SqliteBackplaneOptions> options, ILoggerFactory loggerFactory, TimeSpan maxReaderLag, BackplaneDraining? draining = null)
    {
        _hold = BackplaneNodeHold.Acquire(options.Value, loggerFactory.CreateLogger(BackplaneNode.LogCategory));
        _node = _hold.Node;
        _maxReaderLag = maxReaderLag;
        _draining = draining;
    }

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var path = _node.Database.Path;
        var data = new Dictionary<string, object> { ["database"] = path, ["node"] = _node.NodeId };
        if (_draining?.IsDraining == true)
        {
            // Whatever the configured failure status: a front door must stop sending clients here now.
            data["stopping"] = true;
            data["refusedWhileStopping"] = _draining.Refused;
            return HealthCheckResult.Unhealthy($"This process is stopping: it takes no new SignalR connection or resume on '{path}'.", data: data);
        }
        try
        {
            await _node.EnsureStartedAsync().WaitAsync(ProbeTimeout, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, $"The SQLite backplane could not start on '{path}': {ex.Message}", ex, data);
        }

        try
        {
            // A real write through the writer loop: the same path every send takes.
            await _node.WriteAsync(new DelegateWriteOperation<int>(w =>
                w.Execute(w.Queries.UpdateHeartbeat, (Columns.Node, w.NodeId), (Columns.Now, w.NowMs)))).WaitAsync(ProbeTimeout, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, $"The SQLite backplane database '{path}' cannot be written: {ex.Message}", ex, data);
        }

        var applied = _node.Cursor!.Applied;
        Snapshot snapshot;
        try
        {
            snapshot = await _node.QueryAsync(c => ReadSnapshot(c, _node.Database.Queries, applied), cancellationToken).WaitAsync(ProbeTimeout, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return HealthCheckResult.Degraded($"The SQLite backplane database '{path}' is writable but could not be read: {ex.Message}", ex, data);
        }

        var now = _node.Options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        var problems = new List<string>();
        var lag = snapshot.OldestUnreadCreatedAtMs is { } created ? TimeSpan.FromMilliseconds(Math.Max(0, now - created)) : TimeSpan.Zero;
        data["readerPosition"] = applied;
        data["readerLag"] = lag;
        data["liveNodes"] = snapshot.Nodes.Count;
        if (lag > _maxReaderLag)
        {
            problems.Add($"this process's reader is {lag.TotalSeconds:0.0} s behind the log (more than {_maxReaderLag.TotalSeconds:0.0} s)");
        }

        data["sendsFailedAfterReturning"] = _node.Admission.Failures.Count;
        if (_node.Admission.Failures.Last is { } lastFailure && DateTimeOffset.UtcNow - lastFailure.At < RecentFailureWindow)
        {
            problems.Add($"sends that had returned failed to be written {(DateTimeOffset.UtcNow - lastFailure.At).TotalSeconds:0} s ago ({lastFailure.Error.Message})");
        }

        var staleAfter = _node.Options.HeartbeatInterval * 2;
        foreach (var (nodeId, heartbeatAtMs) in snapshot.Nodes)
        {
            var silence = TimeSpan.FromMilliseconds(Math.Max(0, now - heartbeatAtMs));
            if (nodeId != _node.NodeId && silence > staleAfter)
            {
                problems.Add($"node {nodeId} has sent no heartbeat for {silence.TotalSeconds:0.0} s (it is reaped after {_node.Options.NodeTimeout.TotalSeconds:0.0} s)");
            }
        }

        return problems.Count == 0
            ? HealthCheckResult.Healthy($"The SQLite backplane on '{path}' is writable and this process's reader is current.", data)
            : HealthCheckResult.Degraded($"The SQLite backplane on '{path}' is writable, but {string.Join("; ", problems)}.", data: data);
    }

    private sealed record Snapshot(long? OldestUnreadCreatedAtMs, List<(string NodeId, long HeartbeatAtMs)> Nodes);

    private static Snapshot ReadSnapshot(Microsoft.Data.Sqlite.SqliteConnection connection, SqliteQueries queries, long applied)
    {
        long? oldestUnread;
        using (var command = SqliteCommands.Create(connection, queries.SelectFirstCreatedAfter, (Columns.Cursor, applied)))
        {
            oldestUnread = command.ExecuteScalar() is long value ? value : null;
        }

        var nodes = new List<(string, long)>();
        using (var command = connection.CreateCommand())
        {
            command.CommandText = queries.SelectNodeHeartbeats;
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                nodes.Add((reader.GetString(0), reader.GetInt64(1)));
            }
        }

        return new Snapshot(oldestUnread, nodes);
    }

    public void Dispose() => _hold.Release();

    public ValueTask DisposeAsync() => _hold.ReleaseAsync();
}

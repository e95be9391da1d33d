namespace SqliteBackplane.Benchmarks;

/// <summary>The server processes of one setup, all on one database file.</summary>
public sealed class ServerSet : List<ServerProcess>, IAsyncDisposable
{
    private Driver? _driver;
    private RedisServer? _redis;
    private DashboardWatchers? _dashboards;

    public static async Task<ServerSet> StartAsync(string mode, int processes, string db, Driver driver)
    {
        var set = new ServerSet { _driver = driver };
        try
        {
            // The Redis setup: one fresh redis-server for this set's processes (no state carried between measurements).
            string? redis = null;
            if (mode == "redis")
            {
                set._redis = await RedisServer.StartAsync();
                redis = set._redis.Address;
            }
            // One after another: the first creates the schema. A server that fails to start is reported (the run
            // then exits non-zero) and started once more, so the other figures are still measured.
            for (var i = 0; i < processes; i++)
            {
                var name = $"{mode}-{i}";
                ServerProcess server;
                try
                {
                    server = await ServerProcess.StartAsync(mode, DbFor(mode, db), name, redis);
                }
                catch (InvalidOperationException ex)
                {
                    driver.Problems.Add($"server {name} failed to start: {ex.Message.Split(Environment.NewLine)[0]} {FirstFailure(ex.Message)}");
                    Driver.Log($"server {name} failed to start, retrying once: {ex.Message}");
                    server = await ServerProcess.StartAsync(mode, DbFor(mode, db), name, redis);
                }
                set.Add(server);
            }
            if (mode == "sqlite-dashboard")
            {
                set._dashboards = await DashboardWatchers.OpenAsync(set.Select(s => new Uri(s.BaseUri, BenchServer.DashboardPath + "/events")));
            }
            return set;
        }
        catch
        {
            await set.DisposeAsync();
            throw;
        }
    }

    private static string? DbFor(string mode, string db) => mode is "sqlite" or "sqlite-poll" or "sqlite-resume" or "sqlite-dashboard" ? db : null;

    private static string FirstFailure(string log) =>
        log.Split(Environment.NewLine).FirstOrDefault(l => l.Contains("fail:", StringComparison.Ordinal) || l.Contains("Exception", StringComparison.Ordinal)) ?? "";

    /// <summary>Throws when a server has died during the measurement.</summary>
    public void CheckAlive()
    {
        foreach (var server in this.Where(s => s.Crashed))
        {
            _driver?.ReportCrash(server);
            throw new InvalidOperationException($"Server {server.Name} crashed during the measurement.");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_dashboards is not null)
        {
            Driver.Log($"dashboard event streams read {_dashboards.BytesRead / 1024.0:F0} KiB");
            await _dashboards.DisposeAsync();
        }
        foreach (var server in this)
        {
            var warnings = server.StandardErrorLines.Where(l => l.Contains("warn:", StringComparison.Ordinal) || l.Contains("fail:", StringComparison.Ordinal) || l.Contains("crit:", StringComparison.Ordinal)).ToList();
            if (warnings.Count > 0)
            {
                Driver.Log($"server {server.Name} logged {warnings.Count} warnings/errors, first: {warnings[0]}");
            }
        }
        await Task.WhenAll(this.Select(s => s.DisposeAsync().AsTask()));
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }
}

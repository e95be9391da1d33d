using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Core;

public class ObservabilityTests
{
    [Fact]
    public async Task Health_is_healthy_when_the_file_is_writable_and_the_reader_is_current()
    {
        using var database = new TempDatabase();
        await using var app = await StartAppAsync(database);

        var report = await app.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync().DefaultTimeout();

        var entry = report.Entries["sqlite-backplane"];
        Assert.Equal(HealthStatus.Healthy, entry.Status);
        Assert.Equal($"The SQLite backplane on '{database.Path}' is writable and this process's reader is current.", entry.Description);
    }

    [Fact]
    public async Task Health_is_unhealthy_when_the_database_cannot_be_written()
    {
        using var database = new TempDatabase();
        await using var app = await StartAppAsync(database, o => o.BusyTimeout = TimeSpan.FromSeconds(1));

        HealthReport report;
        using (var otherWriter = new CrossProcessWriteLock(database.Path))
        {
            Assert.True(otherWriter.TryEnter(TimeSpan.FromSeconds(5)));
            report = await app.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync().DefaultTimeout();
            otherWriter.Exit();
        }

        var entry = report.Entries["sqlite-backplane"];
        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.StartsWith($"The SQLite backplane database '{database.Path}' cannot be written: Timed out", entry.Description);
        var recovered = await app.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync().DefaultTimeout();
        Assert.Equal(HealthStatus.Healthy, recovered.Status);
    }

    [Fact]
    public async Task Health_is_degraded_while_another_node_is_late_with_its_heartbeat()
    {
        using var database = new TempDatabase();
        await using var app = await StartAppAsync(database, o => { o.HeartbeatInterval = TimeSpan.FromSeconds(1); o.NodeTimeout = TimeSpan.FromMinutes(5); });
        var late = DateTimeOffset.UtcNow.AddSeconds(-30).ToUnixTimeMilliseconds();
        RawSqlite.Execute(database, "INSERT INTO signalr_nodes (node_id, machine_name, process_id, started_at, heartbeat_at) VALUES ('sleepy', 'm', 1, $t, $t)", ("$t", late));

        var report = await app.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync().DefaultTimeout();

        var entry = report.Entries["sqlite-backplane"];
        Assert.Equal(HealthStatus.Degraded, entry.Status);
        Assert.Contains("node sleepy has sent no heartbeat for 3", entry.Description);
        Assert.Contains("it is reaped after 300.0 s", entry.Description);
    }

    [Fact]
    public async Task Meter_reports_publishes_deliveries_commits_lag_and_skipped_rows()
    {
        using var database = new TempDatabase();
        using var sender = DirectManagers.Create(database);
        using var receiver = DirectManagers.Create(database);
        await using var client = new FakeClient();
        await using var other = new FakeClient();
        await receiver.OnConnectedAsync(client.Connection).DefaultTimeout();
        await receiver.OnConnectedAsync(other.Connection).DefaultTimeout();
        using var measurements = new MeasurementRecorder(receiver.Node.NodeId, sender.Node.NodeId);

        await sender.SendAllAsync(ClientMethods.Receive, ["hello"]).DefaultTimeout();
        await client.AssertReceivesAsync("hello");
        await other.AssertReceivesAsync("hello");

        Assert.Equal(1, measurements.Sum("sqlitebackplane.messages.published", sender.Node.NodeId));
        Assert.Equal(2, measurements.Sum("sqlitebackplane.messages.delivered", receiver.Node.NodeId));
        Assert.Contains(measurements.Values("sqlitebackplane.commit.batch_size", sender.Node.NodeId), v => v >= 1);
        Assert.NotEmpty(measurements.Values("sqlitebackplane.commit.duration", sender.Node.NodeId));
        Assert.NotEmpty(measurements.Values("sqlitebackplane.delivery.lag", receiver.Node.NodeId));
        measurements.Collect();
        Assert.Equal(2, measurements.Last("sqlitebackplane.connections", receiver.Node.NodeId));
        Assert.Equal(0, measurements.Last("sqlitebackplane.reader.backlog", receiver.Node.NodeId));
    }

    private static async Task<WebApplication> StartAppAsync(TempDatabase database, Action<SqliteBackplaneOptions>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddSignalR().AddSqliteBackplane(database.ConnectionString, o => configure?.Invoke(o));
        builder.Services.AddHealthChecks().AddSqliteBackplane();
        var app = builder.Build();
        await app.StartAsync().DefaultTimeout();
        return app;
    }

    /// <summary>Records every measurement of the backplane's meter, per node.</summary>
    private sealed class MeasurementRecorder : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentQueue<(string Instrument, string? Node, double Value)> _values = new();

        public MeasurementRecorder(params string[] nodeIds)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == SqliteBackplaneOptions.MeterName && nodeIds.Contains(NodeOf(instrument.Meter)))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((i, v, _, _) => _values.Enqueue((i.Name, NodeOf(i.Meter), v)));
            _listener.SetMeasurementEventCallback<int>((i, v, _, _) => _values.Enqueue((i.Name, NodeOf(i.Meter), v)));
            _listener.SetMeasurementEventCallback<double>((i, v, _, _) => _values.Enqueue((i.Name, NodeOf(i.Meter), v)));
            _listener.Start();
        }

        public void Collect() => _listener.RecordObservableInstruments();

        public IEnumerable<double> Values(string instrument, string node) =>
            _values.Where(v => v.Instrument == instrument && v.Node == node).Select(v => v.Value);

        public double Sum(string instrument, string node) => Values(instrument, node).Sum();

        public double Last(string instrument, string node) => Values(instrument, node).Last();

        private static string? NodeOf(Meter meter) =>
            meter.Tags?.FirstOrDefault(t => t.Key == "sqlitebackplane.node.id").Value as string;

        public void Dispose() => _listener.Dispose();
    }
}

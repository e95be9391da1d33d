using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR;
using SqliteBackplane.TestServer;
using SqliteBackplane.Tests.Infrastructure;
using Xunit;

namespace SqliteBackplane.Tests.Dashboard;

/// <summary>
/// The dashboard's event stream on Kestrel at 127.0.0.1: what a page receives, that payloads stay out of it unless
/// the app opts in, and that nothing runs (no figures are published, nothing is written) until a page is open.
/// </summary>
public sealed class DashboardStreamTests
{
    private static readonly TimeSpan StreamTimeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task The_stream_shows_this_node_and_a_sent_row_in_the_tail_without_its_payload()
    {
        await using var app = await DashboardApp.StartAsync(kestrel: true);
        using var stream = await EventStream.OpenAsync(app.Address);
        var secret = $"secret-{Guid.NewGuid():N}";

        await app.App.Services.GetRequiredService<HubLifetimeManager<TestHub>>().SendAllAsync(ClientMethods.Receive, [secret]).DefaultTimeout();

        var snapshot = await stream.NextMatchingAsync(s => s.GetProperty("tail").EnumerateArray().Any(r => r.GetProperty("kind").GetString() == "All"), StreamTimeout);
        var node = Assert.Single(snapshot.GetProperty("nodes").EnumerateArray());
        Assert.Equal(Environment.ProcessId, node.GetProperty("pid").GetInt32());
        Assert.True(node.GetProperty("self").GetBoolean());
        var row = snapshot.GetProperty("tail").EnumerateArray().First(r => r.GetProperty("kind").GetString() == "All");
        Assert.Equal(typeof(TestHub).FullName, row.GetProperty("hub").GetString());
        Assert.True(row.GetProperty("size").GetInt32() > secret.Length);
        Assert.False(row.TryGetProperty("payload", out _));
        Assert.False(snapshot.GetProperty("payloadsShown").GetBoolean());
        Assert.DoesNotContain(secret, stream.Received, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_ShowPayloads_the_tail_shows_the_payload()
    {
        await using var app = await DashboardApp.StartAsync(kestrel: true, showPayloads: true);
        using var stream = await EventStream.OpenAsync(app.Address);
        var secret = $"secret-{Guid.NewGuid():N}";

        await app.App.Services.GetRequiredService<HubLifetimeManager<TestHub>>().SendAllAsync(ClientMethods.Receive, [secret]).DefaultTimeout();

        var snapshot = await stream.NextMatchingAsync(s => s.GetProperty("tail").EnumerateArray().Any(r => r.TryGetProperty("payload", out var p) && p.GetString()!.Contains(secret, StringComparison.Ordinal)), StreamTimeout);
        Assert.True(snapshot.GetProperty("payloadsShown").GetBoolean());
    }

    [Fact]
    public async Task Nodes_publish_their_figures_only_while_a_page_is_open()
    {
        await using var app = await DashboardApp.StartAsync(kestrel: true);
        var path = app.Database.Path;

        // Several heartbeats pass with no page open: no figures table, no watched mark.
        var firstBeat = Heartbeat(path);
        await Eventually.BecomesTrueAsync(() => Heartbeat(path) > firstBeat + 500, StreamTimeout, "two heartbeats passed");
        Assert.Equal(0, RawSqlite.Scalar(path, "SELECT count(*) FROM sqlite_master WHERE name = 'signalr_node_stats'"));
        Assert.Equal(0, RawSqlite.Scalar(path, "SELECT count(*) FROM signalr_meta WHERE key = 'dashboard_watched_until'"));

        using (var stream = await EventStream.OpenAsync(app.Address))
        {
            var snapshot = await stream.NextMatchingAsync(s => s.GetProperty("nodes").EnumerateArray().Any(n => n.TryGetProperty("lagRows", out _)), StreamTimeout);
            Assert.Equal(1, RawSqlite.Scalar(path, "SELECT count(*) FROM signalr_node_stats"));
            Assert.Equal(0, snapshot.GetProperty("nodes")[0].GetProperty("lagRows").GetInt64());
        }

        // The page left: the mark lapses and the node removes its figures.
        await Eventually.BecomesTrueAsync(() => RawSqlite.Scalar(path, "SELECT count(*) FROM signalr_node_stats") == 0, StreamTimeout, "the node stopped publishing");
    }

    private static long Heartbeat(string path) => RawSqlite.Scalar(path, "SELECT max(heartbeat_at) FROM signalr_nodes");

    /// <summary>A page's event stream read as text, one JSON snapshot per <c>data:</c> line.</summary>
    private sealed class EventStream : IDisposable
    {
        private readonly HttpClient _client;
        private readonly HttpResponseMessage _response;
        private readonly StreamReader _reader;
        private readonly StringBuilder _received = new();

        private EventStream(HttpClient client, HttpResponseMessage response, StreamReader reader)
        {
            _client = client;
            _response = response;
            _reader = reader;
        }

        public string Received => _received.ToString();

        public static async Task<EventStream> OpenAsync(Uri address)
        {
            var client = new HttpClient { BaseAddress = address, Timeout = Timeout.InfiniteTimeSpan };
            var response = await client.GetAsync("/backplane/events", HttpCompletionOption.ResponseHeadersRead).DefaultTimeout();
            response.EnsureSuccessStatusCode();
            Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
            return new EventStream(client, response, new StreamReader(await response.Content.ReadAsStreamAsync()));
        }

        public async Task<JsonElement> NextMatchingAsync(Func<JsonElement, bool> match, TimeSpan timeout)
        {
            using var cancellation = new CancellationTokenSource(timeout);
            while (true)
            {
                string? line;
                try
                {
                    line = await _reader.ReadLineAsync(cancellation.Token);
                }
                catch (OperationCanceledException)
                {
                    throw new TimeoutException($"No snapshot matched within {timeout.TotalSeconds} s; received: {Received[^Math.Min(Received.Length, 2000)..]}");
                }

                if (line is null)
                {
                    throw new InvalidOperationException("The event stream ended.");
                }

                _received.AppendLine(line);
                if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    var snapshot = JsonDocument.Parse(line["data: ".Length..]).RootElement;
                    if (match(snapshot))
                    {
                        return snapshot;
                    }
                }
            }
        }

        public void Dispose()
        {
            _reader.Dispose();
            _response.Dispose();
            _client.Dispose();
        }
    }
}

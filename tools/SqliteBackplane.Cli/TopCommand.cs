using System.Globalization;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Maintenance;

namespace SqliteBackplane.Cli;

/// <summary>
/// <c>top</c>: the dashboard's nodes and rates in a terminal, redrawn every <c>--interval</c> (1 s by default). Each
/// frame marks the file watched, so every live node publishes its figures (reader lag, local connections, messages in
/// and out) as it does while a dashboard page is open, then reads them with the nodes and the log's bounds. On a
/// terminal it redraws in place and q or Ctrl+C quits; with output redirected (or <c>--iterations</c>) it prints the
/// frames one after another.
/// </summary>
internal static class TopCommand
{
    private static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(1);

    public static async Task<int> RunAsync(SqliteBackplaneMaintenance maintenance, CliArguments arguments, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var interactive = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
        using var quit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var keys = interactive && !Console.IsInputRedirected ? WatchForQuitAsync(quit) : Task.CompletedTask;
        var interval = arguments.IntervalGiven ?? DefaultInterval;
        var state = new Rates();
        try
        {
            for (var frame = 1; ; frame++)
            {
                var activity = await maintenance.Activity.ReadActivityAsync(markWatched: true, quit.Token);
                var text = Render(maintenance.DatabasePath, activity, state, interactive);
                await output.WriteAsync(interactive ? "\u001b[H\u001b[2J" + text : text + Environment.NewLine);
                await output.FlushAsync(CancellationToken.None);
                if (frame == arguments.IterationsValue)
                {
                    return ExitCodes.Success;
                }

                await Task.Delay(interval, quit.Token);
            }
        }
        catch (OperationCanceledException) when (quit.IsCancellationRequested)
        {
            // q or Ctrl+C is how top ends.
            return ExitCodes.Success;
        }
        finally
        {
            await quit.CancelAsync();
            await keys;
        }
    }

    /// <summary>One frame: a header with the log's rate, then one line per node.</summary>
    internal static string Render(string path, NodeActivity activity, Rates rates, bool interactive)
    {
        var now = DateTimeOffset.FromUnixTimeMilliseconds(activity.CapturedAtMs);
        var logRate = rates.Log(activity.CapturedAtMs, activity.LastId);
        var writer = new StringWriter(CultureInfo.InvariantCulture);
        writer.WriteLine($"sqlite-backplane top  {path}  {now.UtcDateTime:HH:mm:ss}Z{(interactive ? "  (q or Ctrl+C to quit)" : "")}");
        var rows = activity.FirstId is { } first && activity.LastId is { } last ? last - first + 1 : 0;
        writer.WriteLine($"log: {rows} rows{(activity.LastId is { } id ? $" (last id {id})" : "")}, {Rate(logRate)} rows/s; {activity.Nodes.Count(n => n.IsLive)} live nodes");
        writer.WriteLine();
        var lines = activity.Nodes.Select(node =>
        {
            var (inRate, outRate, figures) = rates.Node(node.NodeId, activity.Figures.TryGetValue(node.NodeId, out var f) ? f : null, activity.CapturedAtMs);
            return new[]
            {
                node.NodeId[..Math.Min(8, node.NodeId.Length)],
                node.MachineName,
                node.ProcessId.ToString(CultureInfo.InvariantCulture),
                Formatting.Age(now - node.StartedAt),
                Formatting.Age(node.HeartbeatAge),
                figures is null ? "-" : $"{figures.LagRows} ({figures.LagMs} ms)",
                (figures?.Connections ?? node.ConnectionCount).ToString(CultureInfo.InvariantCulture),
                Rate(inRate),
                Rate(outRate),
                node.IsLive ? "live" : "dead",
            };
        });
        Formatting.Table(writer, ["NODE", "MACHINE", "PID", "UPTIME", "HEARTBEAT", "LAG", "CONNS", "IN/S", "OUT/S", "STATE"], lines);
        return writer.ToString();
    }

    private static string Rate(double? rate) => rate is { } value ? value.ToString("0.0", CultureInfo.InvariantCulture) : "-";

    private static async Task WatchForQuitAsync(CancellationTokenSource quit)
    {
        try
        {
            while (!quit.IsCancellationRequested)
            {
                while (Console.KeyAvailable)
                {
                    if (Console.ReadKey(intercept: true).Key == ConsoleKey.Q)
                    {
                        await quit.CancelAsync();
                        return;
                    }
                }

                await Task.Delay(100, quit.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (InvalidOperationException)
        {
            // No console to read keys from: Ctrl+C still quits.
        }
    }

    /// <summary>Rates from two consecutive frames: the log's rows per second and each node's messages in and out per second.</summary>
    internal sealed class Rates
    {
        private readonly Dictionary<string, (long At, NodeFigures Figures, double? In, double? Out)> _nodes = new(StringComparer.Ordinal);
        private (long At, long LastId)? _log;

        public double? Log(long nowMs, long? lastId)
        {
            double? rate = _log is { } previous && lastId is { } id && nowMs > previous.At ? Math.Max(0, id - previous.LastId) / ((nowMs - previous.At) / 1000.0) : null;
            _log = lastId is { } current ? (nowMs, current) : _log;
            return rate;
        }

        public (double? In, double? Out, NodeFigures? Figures) Node(string nodeId, (long UpdatedAt, NodeFigures Figures)? published, long nowMs)
        {
            if (published is not { } current || nowMs - current.UpdatedAt > 5_000)
            {
                return (null, null, null);
            }

            double? inRate = null, outRate = null;
            if (_nodes.TryGetValue(nodeId, out var previous))
            {
                if (current.UpdatedAt == previous.At)
                {
                    // The node has not published since the last frame: keep showing the last rates.
                    return (previous.In, previous.Out, current.Figures);
                }

                if (current.UpdatedAt > previous.At && current.Figures.Since == previous.Figures.Since)
                {
                    var seconds = (current.UpdatedAt - previous.At) / 1000.0;
                    inRate = Math.Max(0, current.Figures.Delivered - previous.Figures.Delivered) / seconds;
                    outRate = Math.Max(0, current.Figures.Published - previous.Figures.Published) / seconds;
                }
            }

            _nodes[nodeId] = (current.UpdatedAt, current.Figures, inRate, outRate);
            return (inRate, outRate, current.Figures);
        }
    }
}

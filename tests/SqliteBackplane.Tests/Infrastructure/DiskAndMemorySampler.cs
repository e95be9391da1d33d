using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// Samples, once per <c>interval</c>, the resident memory of each server process and the database's files
/// (<see cref="WalFiles"/>), keeps every sample, and writes them as CSV for the docs' figures.
/// </summary>
public sealed class DiskAndMemorySampler(string databasePath, IReadOnlyList<(string Name, int ProcessId)> servers, TimeSpan interval)
{
    private readonly List<Sample> _samples = [];

    /// <summary>One sample: seconds since the start, each server's RSS in bytes (0 once it exited), and the files.</summary>
    public sealed record Sample(double Seconds, long[] RssBytes, WalFiles Files);

    public IReadOnlyList<Sample> Samples
    {
        get
        {
            lock (_samples)
            {
                return _samples.ToList();
            }
        }
    }

    /// <summary>The largest -wal file seen so far.</summary>
    public long MaxWalBytes => Samples.Select(s => s.Files.WalBytes).DefaultIfEmpty(0).Max();

    /// <summary>Samples until <paramref name="stop"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        var clock = Stopwatch.StartNew();
        using var timer = new PeriodicTimer(interval);
        try
        {
            do
            {
                var sample = new Sample(clock.Elapsed.TotalSeconds, servers.Select(s => Rss(s.ProcessId)).ToArray(), WalFiles.Read(databasePath));
                lock (_samples)
                {
                    _samples.Add(sample);
                }
            }
            while (await timer.WaitForNextTickAsync(stop));
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Writes every sample to <paramref name="path"/> (one row per sample) and returns the path.</summary>
    public string WriteCsv(string path)
    {
        var csv = new StringBuilder();
        csv.Append("seconds,").Append(WalFiles.CsvHeader);
        foreach (var (name, _) in servers)
        {
            csv.Append(",rss_bytes_").Append(name);
        }

        csv.AppendLine();
        foreach (var sample in Samples)
        {
            csv.Append(sample.Seconds.ToString("0.0", CultureInfo.InvariantCulture)).Append(',').Append(sample.Files.ToCsv());
            foreach (var rss in sample.RssBytes)
            {
                csv.Append(',').Append(rss.ToString(CultureInfo.InvariantCulture));
            }

            csv.AppendLine();
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, csv.ToString());
        return Path.GetFullPath(path);
    }

    /// <summary>
    /// Whether each server's RSS stayed flat: warm-up is the first 40% of the samples; "warmed" is the highest between
    /// 40% and 60%, "end" the highest in the last 20%; the end may exceed warmed by at most
    /// <paramref name="fraction"/> x warmed + <paramref name="slackBytes"/>. Returns one line per server.
    /// </summary>
    public IReadOnlyList<string> MemoryReport(double fraction, long slackBytes, out string? problem)
    {
        problem = null;
        var samples = Samples;
        var lines = new List<string>();
        var n = samples.Count;
        if (n < 5)
        {
            problem = $"Only {n} samples were taken.";
            return lines;
        }

        var warmed = samples.Skip((int)(n * 0.4)).Take(Math.Max(1, (int)(n * 0.2))).ToList();
        var end = samples.Skip((int)(n * 0.8)).ToList();
        for (var s = 0; s < servers.Count; s++)
        {
            var warmedMax = warmed.Max(x => x.RssBytes[s]);
            var endMax = end.Max(x => x.RssBytes[s]);
            var bound = (long)(warmedMax * (1 + fraction)) + slackBytes;
            lines.Add($"{servers[s].Name}: RSS start {Mib(samples[0].RssBytes[s])}, after warm-up {Mib(warmedMax)}, end {Mib(endMax)} (bound {Mib(bound)}).");
            if (endMax > bound && problem is null)
            {
                problem = $"{servers[s].Name}'s RSS grew from {Mib(warmedMax)} after warm-up to {Mib(endMax)}, beyond the bound {Mib(bound)}.";
            }
        }

        return lines;
    }

    /// <summary>A one-line summary of the files: largest -wal, restarts of the log, final sizes.</summary>
    public string FilesReport()
    {
        var samples = Samples;
        if (samples.Count == 0)
        {
            return "No samples.";
        }

        var last = samples[^1].Files;
        return $"-wal max {Mib(samples.Max(s => s.Files.WalBytes))}, the log started over {last.RestartsSince(samples[0].Files)} times, " +
            $"largest log {samples.Max(s => s.Files.LogFrames)} frames; at the end: db {Mib(last.DatabaseBytes)}, -wal {Mib(last.WalBytes)}, -shm {Mib(last.ShmBytes)}.";
    }

    public static string Mib(long bytes) => $"{bytes / (1024.0 * 1024):0.0} MiB";

    private static long Rss(int processId)
    {
        try
        {
            return ProcessMemory.WorkingSetBytes(processId);
        }
        catch (IOException)
        {
            return 0;
        }
        catch (UnauthorizedAccessException)
        {
            return 0;
        }
    }
}

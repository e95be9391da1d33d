namespace SqliteBackplane.Benchmarks;

/// <summary>
/// What an open dashboard page costs a server: one event stream per server (GET {dashboard}/events, Server-Sent
/// Events), read as the page reads it until disposed.
/// </summary>
public sealed class DashboardWatchers : IAsyncDisposable
{
    private readonly HttpClient _http = new() { Timeout = Timeout.InfiniteTimeSpan };
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _readers = [];
    private long _bytesRead;

    public long BytesRead => Interlocked.Read(ref _bytesRead);

    /// <summary>Opens every stream and returns once each has answered (so the servers publish from the start).</summary>
    public static async Task<DashboardWatchers> OpenAsync(IEnumerable<Uri> eventStreams)
    {
        var watchers = new DashboardWatchers();
        try
        {
            foreach (var uri in eventStreams)
            {
                var response = await watchers._http.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, watchers._stop.Token);
                response.EnsureSuccessStatusCode();
                watchers._readers.Add(watchers.ReadAsync(response));
            }
            return watchers;
        }
        catch
        {
            await watchers.DisposeAsync();
            throw;
        }
    }

    private async Task ReadAsync(HttpResponseMessage response)
    {
        using (response)
        {
            try
            {
                await using var stream = await response.Content.ReadAsStreamAsync(_stop.Token);
                var buffer = new byte[16 * 1024];
                int read;
                while ((read = await stream.ReadAsync(buffer, _stop.Token)) > 0)
                {
                    Interlocked.Add(ref _bytesRead, read);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException)
            {
                // Closed by DisposeAsync, or the server stopped first.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_readers);
        _http.Dispose();
        _stop.Dispose();
    }
}

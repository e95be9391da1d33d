using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.SignalR;

namespace SqliteBackplane.TestServer;

/// <summary>
/// A worker's steady send load for the deployment tests (<see cref="TestServerSettings.PacedSendRate"/>): messages
/// <c>m0</c>, <c>m1</c>, ... through <see cref="IHubContext{THub}"/>, number n to All when n % 3 == 0, to group
/// <see cref="Group"/> when n % 3 == 1, else to user <see cref="UserName"/>((n / 3) % users) (<see cref="IsFor"/>).
/// Paced by the clock: every 10 ms it sends what is due by then (a timer cannot wake every millisecond). When the
/// process begins to stop it stops sending, sends <see cref="EndMarker"/> to All and prints <see cref="SentPrefix"/>
/// and how many it sent (or <see cref="FailedPrefix"/> and why it stopped early).
/// </summary>
public sealed class PacedSender
{
    /// <summary>The group every receiver joins.</summary>
    public const string Group = "room";

    /// <summary>Sent to All after the last message: a receiver that gets it has everything.</summary>
    public const string EndMarker = "END";

    /// <summary>The stdout line prefix, followed by the number of messages sent, printed once the process stops.</summary>
    public const string SentPrefix = "PACED-SENT ";

    /// <summary>The stdout line prefix when a send failed (the line then says why); the count still follows <see cref="SentPrefix"/>.</summary>
    public const string FailedPrefix = "PACED-FAILED ";

    /// <summary>The stderr line prefix of a send the backplane held back for longer than its BusyTimeout (then sent again).</summary>
    public const string HeldBackPrefix = "PACED-HELD ";

    /// <summary>How often one message is sent again after the backplane held it back, before the worker gives up.</summary>
    private const int MaxAttempts = 30;

    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(10);

    private readonly IHubClients _clients;
    private readonly int _rate;
    private readonly int _users;
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;
    private long _sent;
    private readonly Lock _stopLock = new();
    private Task<string>? _stopped;
    private int _heldBack;

    private PacedSender(IHubClients clients, int rate, int users)
    {
        _clients = clients;
        _rate = rate;
        _users = users;
    }

    /// <summary>The user name of receiver <paramref name="index"/>.</summary>
    public static string UserName(int index) => "u" + index.ToString(CultureInfo.InvariantCulture);

    /// <summary>Whether message <paramref name="n"/> is addressed to receiver <paramref name="index"/> of <paramref name="users"/>.</summary>
    public static bool IsFor(long n, int index, int users) => n % 3 != 2 || n / 3 % users == index;

    /// <summary>Where the worker's web server takes a POST that stops the sending (<see cref="StopAsync"/>) and answers with the count line.</summary>
    public const string StopPath = "/paced-send/stop";

    /// <summary>A sender for <paramref name="rate"/> messages a second over <paramref name="users"/> users; <see cref="Start"/> starts it.</summary>
    public static PacedSender Create(IHubClients clients, int rate, int users) => new(clients, rate, users);

    /// <summary>Starts sending now; it stops on <see cref="StopAsync"/> or when <paramref name="lifetime"/> begins to stop.</summary>
    public void Start(IHostApplicationLifetime lifetime)
    {
        ArgumentNullException.ThrowIfNull(lifetime);
        _loop = Task.Run(RunAsync);
        lifetime.ApplicationStopping.Register(() => StopAsync().GetAwaiter().GetResult());
    }

    /// <summary>
    /// Stops sending, sends <see cref="EndMarker"/> to All, prints the count line (<see cref="SentPrefix"/>) and returns it;
    /// later calls return the same line.
    /// </summary>
    public Task<string> StopAsync()
    {
        lock (_stopLock)
        {
            return _stopped ??= StopCoreAsync();
        }
    }

    private async Task RunAsync()
    {
        var clock = Stopwatch.StartNew();
        using var timer = new PeriodicTimer(Tick);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                var due = (long)(clock.Elapsed.TotalSeconds * _rate);
                while (_sent < due && !_stop.IsCancellationRequested)
                {
                    await SendHeldBackAsync(_sent);
                    Interlocked.Increment(ref _sent);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// Sends message <paramref name="n"/>; while the backplane holds sends back because a client is behind (it then
    /// throws <see cref="TimeoutException"/> after BusyTimeout, and the message was not sent), sends it again, as a
    /// worker that must not drop its messages would. The pace then falls behind the clock and catches up afterwards.
    /// </summary>
    private async Task SendHeldBackAsync(long n)
    {
        var attempts = 0;
        while (true)
        {
            try
            {
                await SendAsync(n);
                return;
            }
            catch (TimeoutException ex) when (++attempts < MaxAttempts)
            {
                _heldBack++;
                await Console.Error.WriteLineAsync($"{HeldBackPrefix}message {n} waited for the backplane and is sent again: {ex.Message}");
            }
        }
    }

    private Task SendAsync(long n)
    {
        var message = n < 0 ? EndMarker : "m" + n.ToString(CultureInfo.InvariantCulture);
        var target = (n < 0 ? 0 : n % 3) switch
        {
            0 => _clients.All,
            1 => _clients.Group(Group),
            _ => _clients.User(UserName((int)(n / 3 % _users))),
        };
        // Never cancelled: a send is either queued whole or fails before it is.
        return target.SendAsync(ClientMethods.Receive, message, CancellationToken.None);
    }

    private async Task<string> StopCoreAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _loop;
            await SendHeldBackAsync(-1);
        }
        catch (Exception ex)
        {
            Console.Out.WriteLine($"{FailedPrefix}after {Interlocked.Read(ref _sent)} sends: {ex.GetType().Name}: {ex.Message}");
        }

        var line = SentPrefix + Interlocked.Read(ref _sent).ToString(CultureInfo.InvariantCulture) +
            (_heldBack > 0 ? $" ({_heldBack.ToString(CultureInfo.InvariantCulture)} sends held back for longer than BusyTimeout and sent again)" : "");
        Console.Out.WriteLine(line);
        Console.Out.Flush();
        return line;
    }
}

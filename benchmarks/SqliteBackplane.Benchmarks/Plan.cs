namespace SqliteBackplane.Benchmarks;

/// <summary>
/// How big each scenario is: <c>all</c> (the full suite) or <c>smoke</c> (a short run that only checks the harness works).
/// <c>FloodProcessSetups</c> are scenario Fp: F with the same 4 clients spread over 1, 2, 4 or 8 processes.
/// <c>FloodDashboardSetups</c> are scenario Fd: F with and without a dashboard page open on every process.
/// <c>BroadcastConnections</c> are scenario Fo (issue 20's fan-out): a server-side broadcast at <c>BroadcastRate</c>
/// per second for <c>BroadcastSeconds</c> to that many raw WebSocket connections spread over the processes.
/// </summary>
public sealed record Plan(
    bool Smoke,
    int[] LoadRates, double LoadSeconds, double LoadWarmupSeconds, double FloodSeconds, int FloodWarmupMessages, string[] LoadSetups,
    int[] LatencyRates, double LatencySeconds, double LatencyWarmupSeconds, int LatencySenders, string[] LatencySetups,
    int ThroughputMessages, string[] ThroughputSetups,
    (int Connections, int Messages)[] FanOut, string[] FanOutSetups,
    int StallSeconds, string[] StallSetups,
    int IdleSeconds, string[] IdleSetups,
    string[] FloodProcessSetups,
    string[] FloodDashboardSetups,
    int[] BroadcastConnections, int BroadcastRate, double BroadcastSeconds, string[] BroadcastSetups)
{
    public static Plan Full { get; } = new(
        Smoke: false,
        LoadRates: [1000, 10000], LoadSeconds: 10, LoadWarmupSeconds: 2, FloodSeconds: 5, FloodWarmupMessages: 500,
        LoadSetups: ["none:1", "redis:2", "sqlite:2", "sqlite-resume:2"],
        LatencyRates: [1000, 10000], LatencySeconds: 10, LatencyWarmupSeconds: 2, LatencySenders: 2,
        LatencySetups: ["none:1", "redis:2", "sqlite:2", "sqlite:1", "sqlite-poll:2"],
        ThroughputMessages: 200_000, ThroughputSetups: ["none:1", "redis:2", "sqlite:1", "sqlite:2", "sqlite:4", "sqlite:2:1", "sqlite:4:1", "sqlite-poll:1", "sqlite-poll:2", "sqlite-poll:4"],
        FanOut: [(100, 20_000), (1000, 2000)], FanOutSetups: ["none:1", "sqlite:1", "sqlite:2", "sqlite-poll:2"],
        StallSeconds: 10, StallSetups: ["none:1", "sqlite:1", "sqlite:4", "sqlite-poll:4"],
        IdleSeconds: 30, IdleSetups: ["none:1", "sqlite:2", "sqlite-poll:2"],
        FloodProcessSetups: ["none:1", "redis:1", "redis:2", "redis:4", "redis:8", "sqlite:1", "sqlite:2", "sqlite:4", "sqlite:8"],
        FloodDashboardSetups: ["none:1", "sqlite:2", "sqlite-dashboard:2"],
        BroadcastConnections: [500, 2000, 5000], BroadcastRate: 20, BroadcastSeconds: 10, BroadcastSetups: ["none:1", "redis:2", "sqlite:2"]);

    /// <summary>Every scenario once, tiny: proves the harness works (CI runs it); its figures mean nothing.</summary>
    public static Plan SmokePlan { get; } = new(
        Smoke: true,
        LoadRates: [1000], LoadSeconds: 1, LoadWarmupSeconds: 0.3, FloodSeconds: 1, FloodWarmupMessages: 50,
        LoadSetups: ["none:1", "redis:2", "sqlite:2", "sqlite-resume:2"],
        LatencyRates: [1000], LatencySeconds: 1, LatencyWarmupSeconds: 0.3, LatencySenders: 2,
        LatencySetups: ["sqlite:2"],
        ThroughputMessages: 5_000, ThroughputSetups: ["sqlite:2"],
        FanOut: [(20, 100)], FanOutSetups: ["sqlite:2"],
        StallSeconds: 1, StallSetups: ["sqlite:2"],
        IdleSeconds: 2, IdleSetups: ["sqlite:2"],
        FloodProcessSetups: ["none:1", "sqlite:2"],
        FloodDashboardSetups: ["sqlite-dashboard:2"],
        BroadcastConnections: [50], BroadcastRate: 20, BroadcastSeconds: 1, BroadcastSetups: ["sqlite:2"]);
}

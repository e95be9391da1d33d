using System.Text.Json.Serialization;

namespace SqliteBackplane.Dashboard;

/// <summary>What one page receives every second over the event stream (camel-case JSON, documented in docs/observability.md).</summary>
internal sealed record DashboardSnapshot(
    long At,
    string NodeId,
    string Database,
    IReadOnlyList<DashboardNode> Nodes,
    IReadOnlyList<DashboardHub> Hubs,
    DashboardLog Log,
    IReadOnlyDictionary<string, long> Resume,
    IReadOnlyList<DashboardTailRow> Tail,
    IReadOnlyList<DashboardPresenceChange> Presence,
    bool PayloadsShown);

/// <summary>
/// One node: <c>State</c> is <c>live</c>, <c>late</c> (heartbeat older than two intervals) or <c>gone</c> (removed from
/// the file; shown for a few seconds with <c>Reason</c>: <c>graceful</c>, <c>crash detected</c>, <c>timeout</c> or
/// <c>removed</c>; null for a moment, until this process learns why). Figures are null when the node publishes none (yet).
/// </summary>
internal sealed record DashboardNode(
    string Id,
    string Machine,
    int Pid,
    long StartedAt,
    long HeartbeatAgeMs,
    string State,
    string? Reason,
    int Connections,
    bool Self,
    long? LagRows,
    long? LagMs,
    int? LocalConnections,
    double? InPerSecond,
    double? OutPerSecond);

internal sealed record DashboardHub(string Hub, long Connections, long Users, IReadOnlyList<DashboardGroup> Groups);

internal sealed record DashboardGroup(string Name, long Size);

/// <summary>The log: rows (id span), id range, oldest row's age, file sizes, rows per second (the last 5 minutes, oldest first), counters and health.</summary>
internal sealed record DashboardLog(
    long Rows,
    long? FirstId,
    long? LastId,
    long? OldestAgeMs,
    long FileBytes,
    long WalBytes,
    IReadOnlyList<double> RowsPerSecond,
    long Expired,
    long DroppedOldest,
    long Dropped,
    long WriteFailures,
    string? Health,
    string? HealthDescription);

/// <summary>One row of the live tail; <c>Payload</c> only when the app opted in.</summary>
internal sealed record DashboardTailRow(long Id, long At, string Hub, string Kind, IReadOnlyList<string> Targets, int Size, string Node, string? Payload);

internal sealed record DashboardPresenceChange(long At, string Kind, string Hub, string Node, string? Connection, string? User);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(DashboardSnapshot))]
[JsonSerializable(typeof(List<DashboardGroup>))]
internal sealed partial class DashboardJson : JsonSerializerContext;

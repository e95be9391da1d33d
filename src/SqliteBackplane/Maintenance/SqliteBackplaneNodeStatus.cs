namespace SqliteBackplane.Maintenance;

/// <summary>
/// A row of the backplane's nodes table as <see cref="SqliteBackplaneMaintenance"/> reports it: one process attached to the
/// file, live or dead. The presence API's per-hub view of a live node is <see cref="SqliteBackplaneNode"/>.
/// </summary>
internal sealed class SqliteBackplaneNodeStatus
{
    /// <summary>Gets the node's unique id (new for every start of a process).</summary>
    public required string NodeId { get; init; }

    /// <summary>Gets the machine the process runs on.</summary>
    public required string MachineName { get; init; }

    /// <summary>Gets the operating-system process id.</summary>
    public required int ProcessId { get; init; }

    /// <summary>Gets when the node started.</summary>
    public required DateTimeOffset StartedAt { get; init; }

    /// <summary>Gets when the node last recorded that it is alive.</summary>
    public required DateTimeOffset LastHeartbeat { get; init; }

    /// <summary>Gets how long ago <see cref="LastHeartbeat"/> was, when the report was made.</summary>
    public required TimeSpan HeartbeatAge { get; init; }

    /// <summary>
    /// Gets whether the node is live: its heartbeat is no older than <see cref="SqliteBackplaneOptions.NodeTimeout"/>.
    /// A node that is not live is reaped by the live nodes or by <see cref="MaintenanceCleanup.DeleteDeadNodesAsync"/>.
    /// </summary>
    public required bool IsLive { get; init; }

    /// <summary>Gets how many connections (to any hub) the node holds; for a removed node, how many were removed with it.</summary>
    public required int ConnectionCount { get; init; }
}

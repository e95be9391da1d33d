namespace SqliteBackplane;

/// <summary>
/// A process attached to the backplane file, as the presence API reports it for one hub (its connection count is for
/// that hub). Not to be confused with <see cref="SqliteBackplaneNodeStatus"/>, the maintenance API's view of any node
/// row on the file, live or dead, with its heartbeat age.
/// </summary>
/// <param name="NodeId">The node's unique id (new for every start of a process).</param>
/// <param name="MachineName">The machine the process runs on.</param>
/// <param name="ProcessId">The operating-system process id.</param>
/// <param name="StartedAt">When the node started.</param>
/// <param name="LastHeartbeat">When the node last recorded that it is alive.</param>
/// <param name="ConnectionCount">How many connections to the hub this node holds.</param>
public sealed record SqliteBackplaneNode(string NodeId, string MachineName, int ProcessId, DateTimeOffset StartedAt, DateTimeOffset LastHeartbeat, int ConnectionCount);

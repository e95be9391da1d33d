namespace SqliteBackplane;

/// <summary>
/// A process attached to the backplane file, as the presence API reports it for one hub (its connection count is for
/// that hub). The one public shape of a node; operators see dead nodes too through the <c>sqlite-backplane</c> tool.
/// </summary>
/// <param name="NodeId">The node's unique id (new for every start of a process).</param>
/// <param name="MachineName">The machine the process runs on.</param>
/// <param name="ProcessId">The operating-system process id.</param>
/// <param name="StartedAt">When the node started.</param>
/// <param name="LastHeartbeat">When the node last recorded that it is alive.</param>
/// <param name="ConnectionCount">How many connections to the hub this node holds.</param>
public sealed record SqliteBackplaneNode(string NodeId, string MachineName, int ProcessId, DateTimeOffset StartedAt, DateTimeOffset LastHeartbeat, int ConnectionCount);

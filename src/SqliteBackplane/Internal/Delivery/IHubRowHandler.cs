using SqliteBackplane.Internal.Messaging;

namespace SqliteBackplane.Internal.Delivery;

/// <summary>What the reader calls on a hub's manager. Calls arrive on the reader thread, in log order.</summary>
internal interface IHubRowHandler
{
    void Apply(long rowId, Envelope envelope);

    void OnNodeGone(string nodeId);

    /// <summary>This node's connections to the hub with their users and groups, to re-register after being reaped.</summary>
    IReadOnlyList<LocalConnectionSnapshot> SnapshotLocalConnections();

    /// <summary>How many connections to the hub this node holds.</summary>
    int LocalConnectionCount { get; }
}

internal sealed record LocalConnectionSnapshot(string ConnectionId, string? UserId, IReadOnlyList<string> Groups);

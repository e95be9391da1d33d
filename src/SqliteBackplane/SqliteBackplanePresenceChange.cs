namespace SqliteBackplane;

/// <summary>What changed in a <see cref="SqliteBackplanePresenceChange"/>.</summary>
public enum SqliteBackplanePresenceChangeKind
{
    /// <summary>A connection to the hub completed <c>OnConnectedAsync</c> on some process.</summary>
    ConnectionJoined,

    /// <summary>A connection to the hub disconnected, or was removed with its process.</summary>
    ConnectionLeft,

    /// <summary>A user's first connection to the hub joined (follows its <see cref="ConnectionJoined"/>).</summary>
    UserJoined,

    /// <summary>A user's last connection to the hub left (follows its <see cref="ConnectionLeft"/>).</summary>
    UserLeft,

    /// <summary>A process (node) registered on the backplane file.</summary>
    NodeJoined,

    /// <summary>A node stopped gracefully and removed itself (after the <see cref="ConnectionLeft"/> of its connections).</summary>
    NodeLeft,

    /// <summary>
    /// A node died or hung and another process removed it (after the <see cref="ConnectionLeft"/> of its connections): on
    /// Linux and macOS within about a second of a crash on the same machine, otherwise after
    /// <see cref="SqliteBackplaneOptions.NodeTimeout"/>.
    /// </summary>
    NodeReaped,

    /// <summary>
    /// This subscription's handler fell so far behind that changes were dropped (its queue holds at most 10,000): the
    /// changes before this one were delivered, some after them were not. Read the current state again with the query
    /// methods of <see cref="ISqliteBackplanePresence{THub}"/>; the changes that follow are newer than that state.
    /// <see cref="SqliteBackplanePresenceChange.NodeId"/> is this process's node; connection and user are null.
    /// </summary>
    ChangesDropped,
}

/// <summary>
/// One presence change, as every process on the backplane file sees it, in the same order: the changes are rows of the
/// backplane's log, written in the transaction that changed the connections and nodes tables.
/// </summary>
/// <param name="Kind">What changed.</param>
/// <param name="Hub">The hub's name (its type's full name); for node changes, the hub of the subscription.</param>
/// <param name="NodeId">The node the connection is on, or the node that joined, left or was reaped.</param>
/// <param name="ConnectionId">The connection; null for node changes.</param>
/// <param name="UserId">The connection's user, or null when it has none; null for node changes.</param>
public sealed record SqliteBackplanePresenceChange(SqliteBackplanePresenceChangeKind Kind, string Hub, string NodeId, string? ConnectionId, string? UserId);

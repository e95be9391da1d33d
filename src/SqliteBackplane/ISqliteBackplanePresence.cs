using Microsoft.AspNetCore.SignalR;

namespace SqliteBackplane;

/// <summary>
/// Answers who is connected to a hub across every process that shares the backplane file. Resolve it from
/// dependency injection as <c>ISqliteBackplanePresence&lt;THub&gt;</c>. Answers reflect committed state: a connection
/// appears once its <c>OnConnectedAsync</c> has completed and disappears when it disconnects or its node is reaped.
/// </summary>
/// <typeparam name="THub">The hub whose connections are reported.</typeparam>
public interface ISqliteBackplanePresence<THub> where THub : Hub
{
    /// <summary>Counts the connections to the hub on every live node.</summary>
    Task<int> GetConnectionCountAsync(CancellationToken cancellationToken = default);

    /// <summary>Lists the distinct user identifiers with at least one connection, in ordinal order.</summary>
    Task<IReadOnlyList<string>> GetOnlineUsersAsync(CancellationToken cancellationToken = default);

    /// <summary>Tells whether the user has at least one connection.</summary>
    Task<bool> IsUserOnlineAsync(string userId, CancellationToken cancellationToken = default);

    /// <summary>Lists the connection ids of a user.</summary>
    Task<IReadOnlyList<string>> GetUserConnectionsAsync(string userId, CancellationToken cancellationToken = default);

    /// <summary>Lists the connection ids in a group.</summary>
    Task<IReadOnlyList<string>> GetGroupMembersAsync(string groupName, CancellationToken cancellationToken = default);

    /// <summary>Counts the connections in a group.</summary>
    Task<int> GetGroupMemberCountAsync(string groupName, CancellationToken cancellationToken = default);

    /// <summary>Lists the groups a connection belongs to.</summary>
    Task<IReadOnlyList<string>> GetConnectionGroupsAsync(string connectionId, CancellationToken cancellationToken = default);

    /// <summary>Lists the live nodes (processes) on the backplane file, with their connection counts for this hub.</summary>
    Task<IReadOnlyList<SqliteBackplaneNode>> GetNodesAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Calls <paramref name="handler"/> for every presence change from now on, on any process sharing the file: a
    /// connection or user of this hub joined or left, a node joined, left or was reaped. Every process sees the same
    /// changes in the same order; one subscription's handler runs for one change at a time, in that order, off the
    /// backplane's threads (a slow handler delays only its own later changes). An exception from the handler is logged
    /// and the next change is still delivered. Pair it with a query (for example <see cref="GetOnlineUsersAsync"/>)
    /// for the state before the subscription.
    /// </summary>
    /// <param name="handler">Called with each change.</param>
    /// <returns>Disposing it ends the subscription; changes not yet handled are dropped.</returns>
    IDisposable OnPresenceChanged(Func<SqliteBackplanePresenceChange, Task> handler);
}

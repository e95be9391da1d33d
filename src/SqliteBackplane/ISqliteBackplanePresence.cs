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
}

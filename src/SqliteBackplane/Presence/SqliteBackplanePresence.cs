using Microsoft.AspNetCore.SignalR;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SqliteBackplane.Internal.Node;
using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane.Presence;

/// <summary>Answers presence questions from the connections, groups and nodes tables, on the node's query thread.</summary>
internal sealed class SqliteBackplanePresence<THub> : ISqliteBackplanePresence<THub>, IDisposable, IAsyncDisposable where THub : Hub
{
    private readonly BackplaneNodeHold _hold;
    private readonly BackplaneNode _node;
    private readonly string _hub = typeof(THub).FullName!;

    public SqliteBackplanePresence(IOptions<SqliteBackplaneOptions> options, ILoggerFactory loggerFactory)
    {
        _hold = BackplaneNodeHold.Acquire(options.Value, loggerFactory.CreateLogger(BackplaneNode.LogCategory));
        _node = _hold.Node;
    }

    private SqliteQueries Queries => _node.Database.Queries;

    public Task<int> GetConnectionCountAsync(CancellationToken cancellationToken = default) =>
        _node.QueryAsync(c => Count(c, Queries.CountConnections), cancellationToken);

    public Task<IReadOnlyList<string>> GetOnlineUsersAsync(CancellationToken cancellationToken = default) =>
        _node.QueryAsync(c => Strings(c, Queries.SelectOnlineUsers), cancellationToken);

    public async Task<bool> IsUserOnlineAsync(string userId, CancellationToken cancellationToken = default) =>
        (await GetUserConnectionsAsync(userId, cancellationToken)).Count > 0;

    public Task<IReadOnlyList<string>> GetUserConnectionsAsync(string userId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(userId);
        return _node.QueryAsync(c => Strings(c, Queries.SelectUserConnections, (Columns.User, userId)), cancellationToken);
    }

    public Task<IReadOnlyList<string>> GetGroupMembersAsync(string groupName, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(groupName);
        return _node.QueryAsync(c => Strings(c, Queries.SelectGroupMembers, (Columns.Group, groupName)), cancellationToken);
    }

    public Task<int> GetGroupMemberCountAsync(string groupName, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(groupName);
        return _node.QueryAsync(c => Count(c, Queries.CountGroupMembers, (Columns.Group, groupName)), cancellationToken);
    }

    public Task<IReadOnlyList<string>> GetConnectionGroupsAsync(string connectionId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        return _node.QueryAsync(c => Strings(c, Queries.SelectConnectionGroups, (Columns.Connection, connectionId)), cancellationToken);
    }

    public Task<IReadOnlyList<SqliteBackplaneNode>> GetNodesAsync(CancellationToken cancellationToken = default) =>
        _node.QueryAsync<IReadOnlyList<SqliteBackplaneNode>>(c =>
        {
            using var command = Command(c, Queries.SelectNodes);
            using var reader = command.ExecuteReader();
            var nodes = new List<SqliteBackplaneNode>();
            while (reader.Read())
            {
                nodes.Add(new SqliteBackplaneNode(
                    reader.GetString(Columns.HubNode.NodeId),
                    reader.GetString(Columns.HubNode.MachineName),
                    reader.GetInt32(Columns.HubNode.ProcessId),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(Columns.HubNode.StartedAt)),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(Columns.HubNode.HeartbeatAt)),
                    reader.GetInt32(Columns.HubNode.ConnectionCount)));
            }

            return nodes;
        }, cancellationToken);

    public IDisposable OnPresenceChanged(Func<SqliteBackplanePresenceChange, Task> handler)
    {
        var subscription = _node.Dispatcher.Presence.Subscribe(_hub, handler);
        // The node starts on first use; a failed start reaches the next query (and fails the host's start).
        _ = _node.EnsureStartedAsync().ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
        return subscription;
    }

    // Every presence query is scoped to this hub.
    private SqliteCommand Command(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters) =>
        SqliteCommands.Create(connection, sql, [(Columns.Hub, _hub), .. parameters]);

    private int Count(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(connection, sql, parameters);
        return Convert.ToInt32(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private IReadOnlyList<string> Strings(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(connection, sql, parameters);
        using var reader = command.ExecuteReader();
        var values = new List<string>();
        while (reader.Read())
        {
            values.Add(reader.GetString(0));
        }

        return values;
    }

    public void Dispose() => _hold.Release();

    public ValueTask DisposeAsync() => _hold.ReleaseAsync();
}

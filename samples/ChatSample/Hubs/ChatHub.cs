using System.Diagnostics;
using ChatSample.Identity;
using Microsoft.AspNetCore.SignalR;
using SqliteBackplane;

namespace ChatSample.Hubs;

/// <summary>
/// The chat hub, mapped at <c>/hubs/chat?user=&lt;name&gt;</c>. Every send goes through the SQLite backplane, so rooms,
/// direct messages, typing and pings reach clients on any process that shares the database file.
/// Events the server sends are listed in <see cref="ChatEvents"/>.
/// </summary>
public sealed class ChatHub(
    ISqliteBackplanePresence<ChatHub> presence,
    ServerInstance server) : Hub
{
    private static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(5);
    private const int MaxRoomsPerPresenceQuery = 50;

    /// <summary>The caller's name, from the <c>user</c> query string (checked in <see cref="OnConnectedAsync"/>).</summary>
    private string CurrentUser => Context.UserIdentifier!;

    /// <summary>Rooms this connection has joined. Hub calls of one connection run one at a time, on its own process.</summary>
    private HashSet<string> JoinedRooms =>
        (HashSet<string>)(Context.Items.TryGetValue(nameof(JoinedRooms), out var rooms)
            ? rooms!
            : Context.Items[nameof(JoinedRooms)] = new HashSet<string>(StringComparer.Ordinal));

    public override async Task OnConnectedAsync()
    {
        if (Context.UserIdentifier is null)
        {
            throw new HubException(
                $"Pick a name: connect to /hubs/chat?{QueryStringUserIdProvider.QueryKey}=<name> with 1-{ChatNames.MaxLength} letters, digits, spaces, '.', '-' or '_'.");
        }
        // This process's pages receive the backplane's pushed presence changes through this group (PresenceForwarder).
        // Connections coming and going need no announcement: the backplane pushes them, a crashed process's too.
        await Groups.AddToGroupAsync(Context.ConnectionId, server.LocalGroup());
    }

    /// <summary>Returns the caller's name and connection id and the process serving it.</summary>
    public Welcome Hello() => new(CurrentUser, Context.ConnectionId, server);

    /// <summary>Joins a room (a SignalR group) and tells its members. Returns the normalized room name.</summary>
    public async Task<string> JoinRoom(string room)
    {
        room = ChatNames.NormalizeRoomName(room);
        await Groups.AddToGroupAsync(Context.ConnectionId, room);
        if (JoinedRooms.Add(room))
        {
            await Clients.Group(room).SendAsync(ChatEvents.RoomNotice, new RoomNotice(room, CurrentUser, $"{CurrentUser} joined #{room}", DateTimeOffset.UtcNow));
        }
        await Clients.All.SendAsync(ChatEvents.PresenceChanged);
        return room;
    }

    /// <summary>Leaves a room and tells its remaining members.</summary>
    public async Task LeaveRoom(string room)
    {
        room = ChatNames.NormalizeRoomName(room);
        await Groups.RemoveFromGroupAsync(Context.ConnectionId, room);
        if (JoinedRooms.Remove(room))
        {
            await Clients.Group(room).SendAsync(ChatEvents.RoomNotice, new RoomNotice(room, CurrentUser, $"{CurrentUser} left #{room}", DateTimeOffset.UtcNow));
        }
        await Clients.All.SendAsync(ChatEvents.PresenceChanged);
    }

    /// <summary>Sends a message to every connection in a room the caller has joined, on every process.</summary>
    public async Task SendToRoom(string room, string text)
    {
        room = ChatNames.NormalizeRoomName(room);
        text = ChatNames.NormalizeMessageText(text);
        if (!JoinedRooms.Contains(room))
        {
            throw new HubException($"Join #{room} before sending to it.");
        }
        await Clients.Group(room).SendAsync(ChatEvents.RoomMessage, new RoomMessage(room, CurrentUser, text, DateTimeOffset.UtcNow, server.Instance));
    }

    /// <summary>
    /// Sends a direct message to every connection of <paramref name="toUser"/> and a copy to the sender's connections.
    /// Returns false (and sends nothing) when that user is not online.
    /// </summary>
    public async Task<bool> SendDirect(string toUser, string text)
    {
        text = ChatNames.NormalizeMessageText(text);
        if (!ChatNames.TryNormalizeUserName(toUser, out var recipient) || !await presence.IsUserOnlineAsync(recipient, Context.ConnectionAborted))
        {
            return false;
        }
        var message = new DirectMessage(CurrentUser, recipient, text, DateTimeOffset.UtcNow, server.Instance);
        await Clients.Users(recipient == CurrentUser ? [recipient] : [recipient, CurrentUser]).SendAsync(ChatEvents.DirectMessage, message);
        return true;
    }

    /// <summary>Tells the other members of a room that the caller is typing. Clients throttle this.</summary>
    public Task Typing(string room)
    {
        room = ChatNames.NormalizeRoomName(room);
        return JoinedRooms.Contains(room)
            ? Clients.OthersInGroup(room).SendAsync(ChatEvents.Typing, room, CurrentUser)
            : Task.CompletedTask;
    }

    /// <summary>Returns who is online and the member counts of <paramref name="rooms"/>, across every process.</summary>
    public async Task<PresenceSnapshot> GetPresence(string[]? rooms)
    {
        var cancellationToken = Context.ConnectionAborted;
        var roomCounts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var room in (rooms ?? []).Take(MaxRoomsPerPresenceQuery).Select(ChatNames.NormalizeRoomName).Distinct())
        {
            roomCounts[room] = await presence.GetGroupMemberCountAsync(room, cancellationToken);
        }
        var users = await presence.GetOnlineUsersAsync(cancellationToken);
        var connectionCount = await presence.GetConnectionCountAsync(cancellationToken);
        var nodes = await presence.GetNodesAsync(cancellationToken);
        var servers = nodes
            .OrderBy(node => node.StartedAt)
            .Select(node => new ServerSummary(node.ProcessId, node.MachineName, node.ConnectionCount, node.StartedAt))
            .ToList();
        return new PresenceSnapshot(users, connectionCount, roomCounts, servers);
    }

    /// <summary>
    /// Asks one connection of <paramref name="user"/> (not the caller's) for a reply, using a SignalR client result,
    /// wherever that connection lives. Fails with a message when the user has no other connection or does not answer in 5 s.
    /// </summary>
    public async Task<PingResult> PingUser(string user)
    {
        if (!ChatNames.TryNormalizeUserName(user, out var target))
        {
            throw new HubException($"'{user}' is not a user name.");
        }
        var connections = await presence.GetUserConnectionsAsync(target, Context.ConnectionAborted);
        // Never the caller's own connection: it cannot answer while this call is running.
        var connectionId = connections.FirstOrDefault(id => id != Context.ConnectionId)
            ?? throw new HubException($"{target} is not online.");

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Context.ConnectionAborted);
        timeout.CancelAfter(PingTimeout);
        var started = Stopwatch.GetTimestamp();
        try
        {
            var reply = await Clients.Client(connectionId).InvokeAsync<string>(ChatEvents.Ping, CurrentUser, timeout.Token);
            return new PingResult(target, reply, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (OperationCanceledException) when (!Context.ConnectionAborted.IsCancellationRequested)
        {
            throw new HubException($"{target} did not answer within {PingTimeout.TotalSeconds:0} s.");
        }
        catch (IOException)
        {
            throw new HubException($"{target} disconnected before answering.");
        }
    }
}

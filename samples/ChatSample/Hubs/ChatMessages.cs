namespace ChatSample.Hubs;

// The payloads of the hub's events and results. The JSON protocol sends their properties in camelCase.

/// <summary>A message to a room. <paramref name="ServedBy"/> is the instance number of the sender's server.</summary>
public sealed record RoomMessage(string Room, string From, string Text, DateTimeOffset SentAt, int ServedBy);

/// <summary>A direct message from one user to another.</summary>
public sealed record DirectMessage(string From, string To, string Text, DateTimeOffset SentAt, int ServedBy);

/// <summary>A change of room membership, shown in the room's message list.</summary>
public sealed record RoomNotice(string Room, string User, string Text, DateTimeOffset At);

/// <summary>The answer of <c>GetPresence</c>: who is online and room sizes across every process on the database file.</summary>
/// <param name="OnlineUsers">Distinct user names with at least one connection, in ordinal order.</param>
/// <param name="ConnectionCount">Connections to the chat hub on every process.</param>
/// <param name="RoomMemberCounts">For each requested room, how many connections are in it.</param>
/// <param name="Servers">The live processes sharing the database file.</param>
public sealed record PresenceSnapshot(
    IReadOnlyList<string> OnlineUsers,
    int ConnectionCount,
    IReadOnlyDictionary<string, int> RoomMemberCounts,
    IReadOnlyList<ServerSummary> Servers);

/// <summary>One live process on the backplane file and how many chat connections it holds.</summary>
public sealed record ServerSummary(int ProcessId, string MachineName, int ConnectionCount, DateTimeOffset StartedAt);

/// <summary>The answer of <c>PingUser</c>: the target client's reply, from whichever process holds its connection.</summary>
public sealed record PingResult(string User, string Reply, double RoundTripMilliseconds);

/// <summary>The answer of <c>Hello</c>: who the server thinks the caller is, and which process serves it.</summary>
public sealed record Welcome(string User, string ConnectionId, ServerInstance Server);

namespace ChatSample.Hubs;

/// <summary>The events the server sends to clients (<c>connection.on(name, handler)</c> in JavaScript).</summary>
public static class ChatEvents
{
    /// <summary><c>roomMessage(RoomMessage)</c>: a message to a room the client has joined.</summary>
    public const string RoomMessage = "roomMessage";

    /// <summary><c>directMessage(DirectMessage)</c>: a message to or from this user (the sender's other connections get a copy).</summary>
    public const string DirectMessage = "directMessage";

    /// <summary><c>roomNotice(RoomNotice)</c>: someone joined or left a room the client is in.</summary>
    public const string RoomNotice = "roomNotice";

    /// <summary><c>typing(room, user)</c>: someone else in the room is typing.</summary>
    public const string Typing = "typing";

    /// <summary><c>presenceChanged()</c>: a connection joined or left a room; call <c>GetPresence</c> again.</summary>
    public const string PresenceChanged = "presenceChanged";

    /// <summary>
    /// <c>presence(PresenceEvent)</c>: the backplane pushed a presence change (a connection or user came or went on any
    /// process, a process joined, stopped or crashed); call <c>GetPresence</c> again.
    /// </summary>
    public const string Presence = "presence";

    /// <summary><c>ping(fromUser)</c>: a client result; the client returns a string (see <c>PingUser</c>).</summary>
    public const string Ping = "ping";
}

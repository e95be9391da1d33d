namespace SqliteBackplane.Internal.Messaging;

/// <summary>What a log row asks readers to do. Stored in the row's <c>kind</c> column and in its envelope.</summary>
internal enum MessageKind : byte
{
    /// <summary>Invoke on every connection to the hub, except <see cref="Envelope.Excluded"/>.</summary>
    All = 1,

    /// <summary>Invoke on the connections listed in <see cref="Envelope.Targets"/>.</summary>
    Connections = 2,

    /// <summary>Invoke on members of the groups in <see cref="Envelope.Targets"/>, except <see cref="Envelope.Excluded"/>.</summary>
    Groups = 3,

    /// <summary>Invoke on connections of the users in <see cref="Envelope.Targets"/>.</summary>
    Users = 4,

    /// <summary>Targets = [connection id, group name]: the connection joins the group.</summary>
    GroupAdd = 5,

    /// <summary>Targets = [connection id, group name]: the connection leaves the group.</summary>
    GroupRemove = 6,

    /// <summary>Targets = [connection id]: a client-result invocation; the owner replies to <see cref="Envelope.ReplyNodeId"/>.</summary>
    ClientInvocation = 7,

    /// <summary>Targets = [origin node id]: the completion of a client-result invocation, one payload in the connection's protocol.</summary>
    ClientCompletion = 8,

    /// <summary>
    /// Targets = [node id]: the node is gone (stopped or reaped); fail what waits on it. <see cref="Envelope.ReplyNodeId"/>
    /// is the node that removed it when it was reaped (no heartbeat, a released lock file, or the maintenance API); absent
    /// when the node left by itself. Appended after the <see cref="ConnectionLeft"/> rows of its connections.
    /// </summary>
    NodeGone = 9,

    /// <summary>
    /// Presence: connections were registered (the row's hub). Targets = [node id, then for each connection: connection id,
    /// user id ("" for none), user flag ("1" when it is the user's first connection to the hub, else "")].
    /// </summary>
    ConnectionJoined = 10,

    /// <summary>
    /// Presence: connections were removed (disconnected, or their node left or was reaped). The layout of
    /// <see cref="ConnectionJoined"/>; the user flag is "1" when it was the user's last connection to the hub.
    /// </summary>
    ConnectionLeft = 11,

    /// <summary>Presence: Targets = [node id]: the node registered on the file (started, or re-registered after being reaped).</summary>
    NodeJoined = 12,

    /// <summary>
    /// Targets = [new connection id, resumed connection id or ""]: a connection that opted in to resume starts receiving
    /// here. <see cref="Envelope.Excluded"/> = the groups it carries over; <see cref="Envelope.InvocationId"/> = the log
    /// position its replay starts after (resumes only); <see cref="Envelope.ReplyNodeId"/> = the gap reason when a
    /// resume was refused. Only the node holding the new connection acts on it. See docs/resume.md.
    /// </summary>
    Attach = 13,
}

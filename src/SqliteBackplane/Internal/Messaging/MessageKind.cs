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

    /// <summary>Targets = [node id]: the node is gone (stopped or reaped); fail what waits on it.</summary>
    NodeGone = 9,

    /// <summary>
    /// Targets = [new connection id, resumed connection id or ""]: a connection that opted in to resume starts receiving
    /// here. <see cref="Envelope.Excluded"/> = the groups it carries over; <see cref="Envelope.InvocationId"/> = the log
    /// position its replay starts after (resumes only); <see cref="Envelope.ReplyNodeId"/> = the gap reason when a
    /// resume was refused. Only the node holding the new connection acts on it. See docs/resume.md.
    /// </summary>
    Attach = 10,
}

namespace SqliteBackplane.Internal.Messaging;

/// <summary>
/// What a log row asks readers to do. Stored in the row's <c>kind</c> column and in its envelope; each kind has its own
/// typed body (<see cref="Envelope"/>'s subclasses, named below), laid out in docs/envelope.md.
/// </summary>
internal enum MessageKind : byte
{
    /// <summary>A <see cref="SendRow"/> to every connection to the hub, except its excluded ones.</summary>
    All = 1,

    /// <summary>A <see cref="SendRow"/> to the listed connections.</summary>
    Connections = 2,

    /// <summary>A <see cref="SendRow"/> to members of the listed groups, except its excluded ones.</summary>
    Groups = 3,

    /// <summary>A <see cref="SendRow"/> to connections of the listed users.</summary>
    Users = 4,

    /// <summary>A <see cref="GroupChangeRow"/>: the connection joins the group.</summary>
    GroupAdd = 5,

    /// <summary>A <see cref="GroupChangeRow"/>: the connection leaves the group.</summary>
    GroupRemove = 6,

    /// <summary>A <see cref="ClientInvocationRow"/>: a client-result invocation for a connection on its owner node.</summary>
    ClientInvocation = 7,

    /// <summary>A <see cref="ClientCompletionRow"/>: the completion of a client-result invocation, for its origin node.</summary>
    ClientCompletion = 8,

    /// <summary>A <see cref="NodeGoneRow"/>: the node stopped or was reaped; appended after the ConnectionLeft rows of its connections.</summary>
    NodeGone = 9,

    /// <summary>A <see cref="PresenceRow"/>: connections were registered (the row's hub).</summary>
    ConnectionJoined = 10,

    /// <summary>A <see cref="PresenceRow"/>: connections were removed (disconnected, or their node left or was reaped).</summary>
    ConnectionLeft = 11,

    /// <summary>A <see cref="NodeJoinedRow"/>: the node registered on the file (started, or registered again after it was reaped).</summary>
    NodeJoined = 12,

    /// <summary>An <see cref="AttachRow"/>: a connection that opted in to resume starts receiving here. See docs/resume.md.</summary>
    Attach = 13,
}

namespace SqliteBackplane.Internal.Messaging;

/// <summary>
/// The one rule for who receives a send row and how many copies: live delivery, a resume's replay and every other
/// reader of the log decide with it. It follows SignalR's in-box <c>DefaultHubLifetimeManager</c> (and the Redis
/// backplane):
/// <list type="bullet">
/// <item>All (and AllExcept): one copy to every connection not excluded.</item>
/// <item>Connections: one copy to each listed connection, however often it is listed.</item>
/// <item>Users: one copy to each connection of a listed user, however often the user is listed.</item>
/// <item>Groups (and GroupExcept): one copy per listed group the connection is in, so a member of two listed groups (or
/// of a group listed twice) receives two copies, as <c>SendGroupsAsync</c> does in-box.</item>
/// <item>Excluded connections receive nothing, whatever the kind.</item>
/// </list>
/// Live delivery looks recipients up in its indexes by <see cref="LookupKeys"/> (one copy per key and member);
/// <see cref="Copies"/> says the same for one connection, for readers without an index.
/// </summary>
internal static class RowRouting
{
    /// <summary>Whether rows of this kind carry a message for connections chosen by <see cref="Copies"/>.</summary>
    public static bool IsSend(MessageKind kind) => kind is MessageKind.All or MessageKind.Connections or MessageKind.Groups or MessageKind.Users;

    /// <summary>Whether the send leaves this connection out.</summary>
    public static bool IsExcluded(SendRow send, string connectionId)
    {
        var excluded = send.Excluded;
        for (var i = 0; i < excluded.Count; i++)
        {
            if (string.Equals(excluded[i], connectionId, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The targets (connection ids, group names or user ids) to look up for a send: each member found under a key gets
    /// one copy, unless excluded. Group names are kept as listed (each listing is a copy); connection and user ids once.
    /// Empty for All, which reaches every connection once.
    /// </summary>
    public static IReadOnlyList<string> LookupKeys(SendRow send) =>
        send.Kind == MessageKind.Groups || send.Targets.Count < 2 ? send.Targets : send.Targets.Distinct(StringComparer.Ordinal).ToArray();

    /// <summary>How many copies of the send this connection receives, given its user and its groups as of the row.</summary>
    public static int Copies(SendRow send, string connectionId, string? userId, IReadOnlySet<string> groups)
    {
        if (IsExcluded(send, connectionId))
        {
            return 0;
        }

        if (send.Kind == MessageKind.All)
        {
            return 1;
        }

        var copies = 0;
        foreach (var key in LookupKeys(send))
        {
            var member = send.Kind switch
            {
                MessageKind.Connections => string.Equals(key, connectionId, StringComparison.Ordinal),
                MessageKind.Users => userId is not null && string.Equals(key, userId, StringComparison.Ordinal),
                MessageKind.Groups => groups.Contains(key),
                _ => false,
            };
            if (member)
            {
                copies++;
            }
        }

        return copies;
    }

    /// <summary>The message in a connection's hub protocol (names compare case-insensitively, as SignalR's do).</summary>
    public static bool TryGetPayload(IReadOnlyList<ProtocolPayload> payloads, string protocolName, out ProtocolPayload payload)
    {
        for (var i = 0; i < payloads.Count; i++)
        {
            if (string.Equals(payloads[i].ProtocolName, protocolName, StringComparison.OrdinalIgnoreCase))
            {
                payload = payloads[i];
                return true;
            }
        }

        payload = default;
        return false;
    }
}

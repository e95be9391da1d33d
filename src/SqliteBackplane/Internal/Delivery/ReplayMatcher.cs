using SqliteBackplane.Internal.Messaging;

namespace SqliteBackplane.Internal.Delivery;

/// <summary>
/// Decides which log rows a connection would have received, for a resume's replay. Group membership changes over the
/// replayed range: the matcher starts from the memberships at the END of the range (what the old connection held when
/// it left or was taken over), is walked back over the range's group changes (<see cref="Rewind"/>, newest first) to
/// the memberships at its start, then forward over every row (<see cref="Matches"/>), applying the group changes again
/// in order. Every GroupAdd/GroupRemove row is a real change (no-op changes write no row), so the walk is exact.
/// </summary>
internal sealed class ReplayMatcher(string connectionId, string? userId, IEnumerable<string> groupsAtEnd)
{
    private readonly HashSet<string> _groups = new(groupsAtEnd, StringComparer.Ordinal);

    /// <summary>The groups the connection is in at the current point of the walk.</summary>
    public IReadOnlyCollection<string> Groups => _groups;

    /// <summary>Undoes one group change of the range; call for each, newest first, before the forward walk.</summary>
    public void Rewind(Envelope change)
    {
        if (IsOwnGroupChange(change))
        {
            if (change.Kind == MessageKind.GroupAdd)
            {
                _groups.Remove(change.Targets[1]);
            }
            else
            {
                _groups.Add(change.Targets[1]);
            }
        }
    }

    /// <summary>Walks forward over one row: applies a group change (false), or says whether a send reached the connection.</summary>
    public bool Matches(Envelope envelope)
    {
        switch (envelope.Kind)
        {
            case MessageKind.GroupAdd when IsOwnGroupChange(envelope):
                _groups.Add(envelope.Targets[1]);
                return false;
            case MessageKind.GroupRemove when IsOwnGroupChange(envelope):
                _groups.Remove(envelope.Targets[1]);
                return false;
            case MessageKind.All:
                return !IsExcluded(envelope);
            case MessageKind.Connections:
                return envelope.Targets.Contains(connectionId, StringComparer.Ordinal);
            case MessageKind.Users:
                return userId is not null && envelope.Targets.Contains(userId, StringComparer.Ordinal);
            case MessageKind.Groups:
                return !IsExcluded(envelope) && envelope.Targets.Any(_groups.Contains);
            default:
                return false;
        }
    }

    private bool IsOwnGroupChange(Envelope change) =>
        change.Kind is MessageKind.GroupAdd or MessageKind.GroupRemove && change.Targets.Count >= 2 && change.Targets[0] == connectionId;

    private bool IsExcluded(Envelope envelope) => envelope.Excluded.Count > 0 && envelope.Excluded.Contains(connectionId, StringComparer.Ordinal);
}

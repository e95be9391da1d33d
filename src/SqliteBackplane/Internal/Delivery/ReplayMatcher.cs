using SqliteBackplane.Internal.Messaging;

namespace SqliteBackplane.Internal.Delivery;

/// <summary>
/// Decides which log rows a connection would have received, and how many copies of each, for a resume's replay: the
/// rule is <see cref="RowRouting"/>'s, the same as live delivery's. Group membership changes over the replayed range:
/// the matcher starts from the memberships at the END of the range (what the old connection held when it left or was
/// taken over), is walked back over the range's group changes (<see cref="Rewind"/>, newest first) to the memberships
/// at its start, then forward over every row (<see cref="Copies"/>), applying the group changes again in order. Every
/// GroupAdd/GroupRemove row is a real change (no-op changes write no row), so the walk is exact.
/// </summary>
internal sealed class ReplayMatcher(string connectionId, string? userId, IEnumerable<string> groupsAtEnd)
{
    private readonly HashSet<string> _groups = new(groupsAtEnd, StringComparer.Ordinal);

    /// <summary>The groups the connection is in at the current point of the walk.</summary>
    public IReadOnlyCollection<string> Groups => _groups;

    /// <summary>
    /// The replay of a range: each row the connection would have received, once per copy, in log order; null when that
    /// is more than <paramref name="max"/> messages.
    /// </summary>
    public static List<(long Id, Envelope Row)>? Plan(string connectionId, string? userId, IEnumerable<string> groupsAtEnd,
        IEnumerable<GroupChangeRow> groupChangesNewestFirst, IEnumerable<(long Id, Envelope Row)> rows, int max)
    {
        var matcher = new ReplayMatcher(connectionId, userId, groupsAtEnd);
        foreach (var change in groupChangesNewestFirst)
        {
            matcher.Rewind(change);
        }

        var replay = new List<(long, Envelope)>();
        foreach (var (id, row) in rows)
        {
            for (var copies = matcher.Copies(row); copies > 0; copies--)
            {
                if (replay.Count >= max)
                {
                    return null;
                }

                replay.Add((id, row));
            }
        }

        return replay;
    }

    /// <summary>Undoes one group change of the range; call for each, newest first, before the forward walk.</summary>
    public void Rewind(GroupChangeRow change)
    {
        if (change.ConnectionId == connectionId)
        {
            _ = change.Added ? _groups.Remove(change.Group) : _groups.Add(change.Group);
        }
    }

    /// <summary>Walks forward over one row: applies a group change (0), or says how many copies of a send reached the connection.</summary>
    public int Copies(Envelope row)
    {
        switch (row)
        {
            case GroupChangeRow change when change.ConnectionId == connectionId:
                _ = change.Added ? _groups.Add(change.Group) : _groups.Remove(change.Group);
                return 0;
            case SendRow send:
                return RowRouting.Copies(send, connectionId, userId, _groups);
            default:
                return 0;
        }
    }
}

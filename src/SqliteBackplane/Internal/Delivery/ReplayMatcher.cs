using SqliteBackplane.Internal.Messaging;

namespace SqliteBackplane.Internal.Delivery;

/// <summary>
/// Decides which log rows a resumed stream would have received, and how many copies of each, for a resume's replay:
/// the rule is <see cref="RowRouting"/>'s, the same as live delivery's. The stream is a chain of connections (the one
/// the client's token names, then each that resumed it and left before its client received its own token); each link
/// receives as itself from its attach row on, and took over its predecessor's groups there. Group membership changes
/// over the replayed range: the matcher starts from the memberships at the END of the range (what the last link held
/// when it left or was taken over), is walked back over the range's group changes and attach rows (<see cref="Rewind"/>,
/// newest first) to the link and memberships at its start, then forward over every row (<see cref="Copies"/>), applying
/// them again in order. Every GroupAdd/GroupRemove row is a real change (no-op changes write no row), so the walk is exact.
/// </summary>
internal sealed class ReplayMatcher
{
    private readonly IReadOnlyList<string> _chain;
    private readonly string? _userId;
    private readonly HashSet<string> _groups;
    private int _link;

    public ReplayMatcher(IReadOnlyList<string> chain, string? userId, IEnumerable<string> groupsAtEnd)
    {
        _chain = chain.Count > 0 ? chain : throw new ArgumentException("A replay needs the connection it resumes.", nameof(chain));
        _userId = userId;
        _groups = new HashSet<string>(groupsAtEnd, StringComparer.Ordinal);
        _link = chain.Count - 1;
    }

    public ReplayMatcher(string connectionId, string? userId, IEnumerable<string> groupsAtEnd)
        : this([connectionId], userId, groupsAtEnd)
    {
    }

    /// <summary>The groups the stream is in at the current point of the walk.</summary>
    public IReadOnlyCollection<string> Groups => _groups;

    /// <summary>The connection the stream is at the current point of the walk.</summary>
    public string ConnectionId => _chain[_link];

    /// <summary>
    /// The replay of a range: each row the stream would have received, once per copy, in log order; null when that is
    /// more than <paramref name="max"/> messages.
    /// </summary>
    public static List<(long Id, Envelope Row)>? Plan(IReadOnlyList<string> chain, string? userId, IEnumerable<string> groupsAtEnd,
        IEnumerable<Envelope> changesNewestFirst, IEnumerable<(long Id, Envelope Row)> rows, int max)
    {
        var matcher = new ReplayMatcher(chain, userId, groupsAtEnd);
        foreach (var change in changesNewestFirst)
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

    /// <summary>Undoes one group change or link of the range; call for each, newest first, before the forward walk.</summary>
    public void Rewind(Envelope change)
    {
        switch (change)
        {
            case GroupChangeRow own when own.ConnectionId == ConnectionId:
                _ = own.Added ? _groups.Remove(own.Group) : _groups.Add(own.Group);
                break;
            case AttachRow attach when _link > 0 && IsLink(attach, _link):
                _link--;
                break;
        }
    }

    /// <summary>Walks forward over one row: applies a group change or link (0), or says how many copies of a send reached the stream.</summary>
    public int Copies(Envelope row)
    {
        switch (row)
        {
            case GroupChangeRow own when own.ConnectionId == ConnectionId:
                _ = own.Added ? _groups.Add(own.Group) : _groups.Remove(own.Group);
                return 0;
            case AttachRow attach when _link + 1 < _chain.Count && IsLink(attach, _link + 1):
                _link++;
                return 0;
            case SendRow send:
                return RowRouting.Copies(send, ConnectionId, _userId, _groups);
            default:
                return 0;
        }
    }

    // The attach row where link `index` resumed link `index - 1` (and took over its groups).
    private bool IsLink(AttachRow attach, int index) =>
        attach.GapReason is null && attach.ConnectionId == _chain[index] && attach.Resumed.Count > 0 && attach.Resumed[^1] == _chain[index - 1];
}

using System.Globalization;
using System.Text.Json;
using SqliteBackplane.Internal.Messaging;

namespace SqliteBackplane.Internal.Storage;

/// <summary>What a reconnecting client sends: the token it was given and the last log position it fully received.</summary>
internal sealed record ResumeTicket(string Token, long Position)
{
    /// <summary>The query parameter the client helpers add to the hub URL.</summary>
    public const string QueryParameter = "sqlitebackplane-resume";

    /// <summary>
    /// Reads the query parameter's value: <c>1</c> (a first connect, null ticket, true), <c>token.position</c> (a
    /// ticket), anything else (a ticket that fails the token check, so the client is told of a gap).
    /// </summary>
    public static ResumeTicket? Parse(string value)
    {
        if (value == "1")
        {
            return null;
        }

        var dot = value.LastIndexOf('.');
        return dot > 0 && long.TryParse(value.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var position)
            ? new ResumeTicket(value[..dot], position)
            : new ResumeTicket(value, 0);
    }
}

/// <summary>Why a resume was refused; the strings are the wire values of <c>sqlitebackplane:gap</c> (docs/resume.md).</summary>
internal static class ResumeGap
{
    public const string Expired = "expired";
    public const string Truncated = "truncated";
    public const string User = "user";
    public const string Token = "token";
    public const string Resumed = "resumed";
    public const string Overflow = "overflow";
    public const string Failed = "failed";
}

/// <summary>
/// Registers a connection that opted in to resume, in one transaction: its connection row, its resume record and, for
/// a resume, the takeover of the old connection (the last of its <see cref="ResumeChain"/>: its record is marked resumed,
/// its rows removed if still present, its groups given to the new connection), then the <see cref="MessageKind.Attach"/>
/// row from which the new connection receives. The result is the gap reason when a resume was refused, otherwise null;
/// or <see cref="Busy"/>, with nothing written, when the connection to take over resumed the token's connection and is
/// still registered: its server may not have noticed its drop yet, so the caller tries again a little later, and makes
/// the last attempt with <paramref name="lastAttempt"/>, which refuses with <see cref="ResumeGap.Resumed"/> instead
/// (two live connections claim the same stream).
/// </summary>
internal sealed class AttachConnectionOperation(string hub, string connectionId, string? userId, ResumeTicket? ticket, ResumeTokens tokens, long windowMs,
    bool lastAttempt = true) : WriteOperation<string?>
{
    /// <summary>The result that asks for another attempt; never a gap reason on the wire.</summary>
    public const string Busy = "busy";

    protected override string? Run(WriterContext context)
    {
        var queries = context.Queries;
        tokens.EnsureKey(context);
        string? gap = null;
        ResumeChain? chain = null;
        IReadOnlyList<string> claimed = Envelope.NoStrings;
        var startPosition = 0L;
        if (ticket is not null)
        {
            gap = Check(context, ticket, out chain, out claimed, out startPosition);
            if (gap is null && chain!.Links.Count > 1 && chain.Last.StillRegistered)
            {
                if (!lastAttempt)
                {
                    return Busy;
                }

                gap = ResumeGap.Resumed;
            }
        }

        PresenceRows.Register(context, hub, connectionId, userId);
        context.Execute(queries.InsertResumable, (Columns.Hub, hub), (Columns.Connection, connectionId), (Columns.User, userId));
        var from = 0L;
        IReadOnlyList<string> groups = Envelope.NoStrings;
        if (gap is null && chain is not null)
        {
            gap = TakeOver(context, chain, Math.Max(ticket!.Position, startPosition), out from, out groups);
        }

        var envelope = new AttachRow
        {
            ConnectionId = connectionId,
            Resumed = claimed,
            Groups = gap is null ? groups : Envelope.NoStrings,
            ReplayAfter = gap is null && chain is not null ? from : null,
            GapReason = gap,
        };
        context.AppendMessage(hub, MessageKind.Attach, EnvelopeProtocol.Write(envelope));
        return gap;
    }

    // Read only: the token, the chain of records it reaches, the user and the window.
    private string? Check(WriterContext context, ResumeTicket ticket, out ResumeChain? chain, out IReadOnlyList<string> claimed, out long startPosition)
    {
        chain = null;
        claimed = Envelope.NoStrings;
        if (!tokens.TryRead(hub, ticket.Token, out var tokenConnection, out startPosition) || tokenConnection == connectionId)
        {
            return ResumeGap.Token;
        }

        claimed = [tokenConnection];
        chain = ResumeChain.Follow(context, hub, tokenConnection, connectionId);
        if (chain is null)
        {
            return ResumeGap.Expired;
        }

        claimed = chain.Links;
        var last = chain.Last;
        if (last.ResumedBy is not null)
        {
            // The chain ends at a record resumed by this very connection, or is too long or loops.
            return ResumeGap.Resumed;
        }

        if (!string.Equals(last.UserId, userId, StringComparison.Ordinal))
        {
            return ResumeGap.User;
        }

        return last.DepartedAt is { } departed && context.NowMs - departed > windowMs ? ResumeGap.Expired : null;
    }

    // from: never before the token connection's own start, so a client cannot ask for what was sent before it connected.
    private string? TakeOver(WriterContext context, ResumeChain chain, long from, out long replayAfter, out IReadOnlyList<string> groups)
    {
        var queries = context.Queries;
        replayAfter = from;
        groups = Envelope.NoStrings;
        using (var bounds = context.Command(queries.SelectLogBounds, []).ExecuteReader())
        {
            bounds.Read();
            if (IsTruncated(from, bounds.GetInt64(Columns.LogBounds.Min), bounds.GetInt64(Columns.LogBounds.Max)))
            {
                return ResumeGap.Truncated;
            }
        }

        var oldId = chain.Links[^1];
        if (chain.Last.StillRegistered)
        {
            // The old connection still looks alive (its server has not noticed the drop yet, or died and is not reaped):
            // take over its memberships now; its server's later removal finds nothing to remove.
            groups = ReadGroups(context, oldId);
            var oldNode = (string)context.Scalar(queries.SelectConnectionNode, (Columns.Hub, hub), (Columns.Connection, oldId))!;
            context.Execute(queries.DeleteGroupsOfConnection, (Columns.Hub, hub), (Columns.Connection, oldId));
            context.Execute(queries.DeleteConnection, (Columns.Hub, hub), (Columns.Connection, oldId));
            PresenceRows.Left(context, oldNode, [(hub, oldId, chain.Last.UserId ?? "")]);
        }
        else
        {
            groups = ParseGroups(chain.Last.DepartedGroups);
        }

        context.Execute(queries.MarkResumed, (Columns.Resumer, connectionId), (Columns.Now, context.NowMs), (Columns.Hub, hub), (Columns.Connection, oldId));
        foreach (var group in groups)
        {
            context.Execute(queries.InsertGroupMember, (Columns.Hub, hub), (Columns.Group, group), (Columns.Connection, connectionId));
        }

        return null;
    }

    /// <summary>Whether rows after <paramref name="from"/> were deleted (expiry or the log cap) while later rows remain.</summary>
    public static bool IsTruncated(long from, long minId, long maxId) => from < maxId && minId > from + 1;

    private string[] ReadGroups(WriterContext context, string connection)
    {
        var groups = new List<string>();
        using var reader = context.Command(context.Queries.SelectConnectionGroups, [(Columns.Hub, hub), (Columns.Connection, connection)]).ExecuteReader();
        while (reader.Read())
        {
            groups.Add(reader.GetString(0));
        }

        return [.. groups];
    }

    private static string[] ParseGroups(string? json)
    {
        if (string.IsNullOrEmpty(json))
        {
            return [];
        }

        using var document = JsonDocument.Parse(json);
        return [.. document.RootElement.EnumerateArray().Select(element => element.GetString()).OfType<string>()];
    }
}

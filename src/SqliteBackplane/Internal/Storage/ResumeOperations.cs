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
/// a resume, the takeover of the old connection (its record is marked resumed, its rows removed if still present, its
/// groups given to the new connection), then the <see cref="MessageKind.Attach"/> row from which the new connection
/// receives. The result is the gap reason when a resume was refused, otherwise null.
/// </summary>
internal sealed class AttachConnectionOperation(string hub, string connectionId, string? userId, ResumeTicket? ticket, ResumeTokens tokens, long windowMs)
    : WriteOperation<string?>
{
    protected override string? Run(WriterContext context)
    {
        var queries = context.Queries;
        PresenceRows.Register(context, hub, connectionId, userId);
        context.Execute(queries.InsertResumable, (Columns.Hub, hub), (Columns.Connection, connectionId), (Columns.User, userId));
        tokens.EnsureKey(context);

        string? gap = null;
        string? resumed = null;
        var from = 0L;
        IReadOnlyList<string> groups = Envelope.NoStrings;
        if (ticket is not null)
        {
            gap = TakeOver(context, ticket, out resumed, out from, out groups);
        }

        var envelope = new AttachRow
        {
            ConnectionId = connectionId,
            ResumedConnectionId = resumed,
            Groups = gap is null ? groups : Envelope.NoStrings,
            ReplayAfter = gap is null && resumed is not null ? from : null,
            GapReason = gap,
        };
        context.AppendMessage(hub, MessageKind.Attach, EnvelopeProtocol.Write(envelope));
        return gap;
    }

    private string? TakeOver(WriterContext context, ResumeTicket ticket, out string? oldId, out long from, out IReadOnlyList<string> groups)
    {
        var queries = context.Queries;
        from = 0;
        groups = Envelope.NoStrings;
        if (!tokens.TryRead(hub, ticket.Token, out var tokenConnection, out var startPosition) || tokenConnection == connectionId)
        {
            oldId = null;
            return ResumeGap.Token;
        }

        oldId = tokenConnection;
        string? recordUser;
        long? departedAt;
        string? departedGroups;
        bool alreadyResumed;
        bool stillRegistered;
        using (var reader = context.Command(queries.SelectResumable, [(Columns.Hub, hub), (Columns.Connection, oldId)]).ExecuteReader())
        {
            if (!reader.Read())
            {
                return ResumeGap.Expired;
            }

            recordUser = reader.IsDBNull(Columns.ResumableRecord.UserId) ? null : reader.GetString(Columns.ResumableRecord.UserId);
            departedAt = reader.IsDBNull(Columns.ResumableRecord.DepartedAt) ? null : reader.GetInt64(Columns.ResumableRecord.DepartedAt);
            departedGroups = reader.IsDBNull(Columns.ResumableRecord.Groups) ? null : reader.GetString(Columns.ResumableRecord.Groups);
            alreadyResumed = !reader.IsDBNull(Columns.ResumableRecord.ResumedBy);
            stillRegistered = reader.GetInt64(Columns.ResumableRecord.ConnectionExists) != 0;
        }

        if (alreadyResumed)
        {
            return ResumeGap.Resumed;
        }

        if (!string.Equals(recordUser, userId, StringComparison.Ordinal))
        {
            return ResumeGap.User;
        }

        if (departedAt is { } departed && context.NowMs - departed > windowMs)
        {
            return ResumeGap.Expired;
        }

        // Never before the old connection's own start: a client cannot ask for what was sent before it connected.
        from = Math.Max(ticket.Position, startPosition);
        using (var bounds = context.Command(queries.SelectLogBounds, []).ExecuteReader())
        {
            bounds.Read();
            if (IsTruncated(from, bounds.GetInt64(Columns.LogBounds.Min), bounds.GetInt64(Columns.LogBounds.Max)))
            {
                return ResumeGap.Truncated;
            }
        }

        if (stillRegistered)
        {
            // The old connection still looks alive (its server has not noticed the drop yet, or died and is not reaped):
            // take over its memberships now; its server's later removal finds nothing to remove.
            groups = ReadGroups(context, oldId);
            var oldNode = (string)context.Scalar(queries.SelectConnectionNode, (Columns.Hub, hub), (Columns.Connection, oldId))!;
            context.Execute(queries.DeleteGroupsOfConnection, (Columns.Hub, hub), (Columns.Connection, oldId));
            context.Execute(queries.DeleteConnection, (Columns.Hub, hub), (Columns.Connection, oldId));
            PresenceRows.Left(context, oldNode, [(hub, oldId, recordUser ?? "")]);
        }
        else
        {
            groups = ParseGroups(departedGroups);
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

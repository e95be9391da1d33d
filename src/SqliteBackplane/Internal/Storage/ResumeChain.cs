namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// The resume records a ticket reaches: the record its token names, then each record that resumed it (its
/// <c>resumed_by</c>), to the last one, which a new resume takes over. A chain longer than one forms when a resumed
/// connection drops before its client received its own token: the client presents the older token again (docs/resume.md).
/// </summary>
internal sealed class ResumeChain
{
    // Far more than a client drops in a row within a resume window; bounds the walk of a corrupt or looping table.
    private const int MaxLinks = 64;

    private ResumeChain(List<string> links, ResumeRecord last)
    {
        Links = links;
        Last = last;
    }

    /// <summary>The connection ids, oldest first; the token's is first.</summary>
    public IReadOnlyList<string> Links { get; }

    /// <summary>The record of the last link: the one to take over.</summary>
    public ResumeRecord Last { get; }

    /// <summary>Follows the records from <paramref name="tokenConnection"/>; null when its record is gone (or a link's is).</summary>
    public static ResumeChain? Follow(WriterContext context, string hub, string tokenConnection, string newConnection)
    {
        var links = new List<string> { tokenConnection };
        while (true)
        {
            if (ResumeRecord.Read(context, hub, links[^1]) is not { } record)
            {
                return null;
            }

            if (record.ResumedBy is not { } next || links.Count >= MaxLinks || next == newConnection || links.Contains(next, StringComparer.Ordinal))
            {
                return new ResumeChain(links, record);
            }

            links.Add(next);
        }
    }
}

/// <summary>One connection's row of the resumable table, with whether its connection row still exists.</summary>
internal sealed record ResumeRecord(string? UserId, long? DepartedAt, string? DepartedGroups, string? ResumedBy, bool StillRegistered)
{
    public static ResumeRecord? Read(WriterContext context, string hub, string connectionId)
    {
        using var reader = context.Command(context.Queries.SelectResumable, [(Columns.Hub, hub), (Columns.Connection, connectionId)]).ExecuteReader();
        if (!reader.Read())
        {
            return null;
        }

        return new ResumeRecord(
            reader.IsDBNull(Columns.ResumableRecord.UserId) ? null : reader.GetString(Columns.ResumableRecord.UserId),
            reader.IsDBNull(Columns.ResumableRecord.DepartedAt) ? null : reader.GetInt64(Columns.ResumableRecord.DepartedAt),
            reader.IsDBNull(Columns.ResumableRecord.Groups) ? null : reader.GetString(Columns.ResumableRecord.Groups),
            reader.IsDBNull(Columns.ResumableRecord.ResumedBy) ? null : reader.GetString(Columns.ResumableRecord.ResumedBy),
            reader.GetInt64(Columns.ResumableRecord.ConnectionExists) != 0);
    }
}

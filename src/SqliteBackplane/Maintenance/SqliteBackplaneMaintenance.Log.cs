using System.Globalization;
using Microsoft.Data.Sqlite;
using SqliteBackplane.Internal.Messaging;

namespace SqliteBackplane.Maintenance;

internal sealed partial class SqliteBackplaneMaintenance
{
    /// <summary>
    /// Gets the log position from which <see cref="ReadLogAsync"/> returns the newest <paramref name="lastCount"/>
    /// entries: the id just before them, or the newest id for 0 (to follow only what comes next).
    /// </summary>
    /// <param name="lastCount">How many of the newest entries a read from the position returns; 0 or more.</param>
    /// <param name="cancellationToken">Cancels the call before it reads.</param>
    /// <returns>A position to pass to <see cref="ReadLogAsync"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="lastCount"/> is negative.</exception>
    /// <exception cref="InvalidOperationException">The file is missing, not a SQLite database, or has no backplane tables with the prefix.</exception>
    public Task<long> GetLogPositionAsync(int lastCount = 0, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(lastCount);
        return RunAsync(_ =>
        {
            using var connection = OpenBackplane();
            return Read(() =>
            {
                using var command = Command(connection, Queries.SelectCursorBeforeLast, ("$count", lastCount));
                return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
            });
        }, cancellationToken);
    }

    /// <summary>
    /// Reads the log entries after <paramref name="position"/>, oldest first, with their envelopes decoded. Each call
    /// is one short autocommit read: nothing is written, and no read transaction (which would hold the WAL) outlives
    /// the call, so polling it to follow the log is safe beside live nodes. Entries expire, so a position older than
    /// the oldest entry simply continues from the oldest one.
    /// </summary>
    /// <param name="position">The id of the last entry already read, or a position from <see cref="GetLogPositionAsync"/>.</param>
    /// <param name="maxCount">The most entries to return; at least 1.</param>
    /// <param name="cancellationToken">Cancels the call before it reads.</param>
    /// <returns>Up to <paramref name="maxCount"/> entries in id order; the last one's id is the next position.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxCount"/> is less than 1.</exception>
    /// <exception cref="InvalidOperationException">The file is missing, not a SQLite database, or has no backplane tables with the prefix.</exception>
    public Task<IReadOnlyList<SqliteBackplaneLogEntry>> ReadLogAsync(long position, int maxCount, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
        return RunAsync<IReadOnlyList<SqliteBackplaneLogEntry>>(_ =>
        {
            using var connection = OpenBackplane();
            return Read(() => ReadLog(connection, position, maxCount));
        }, cancellationToken);
    }

    private List<SqliteBackplaneLogEntry> ReadLog(SqliteConnection connection, long position, int maxCount)
    {
        using var command = Command(connection, Queries.SelectLogAfter, ("$cursor", position), ("$limit", maxCount));
        using var reader = command.ExecuteReader();
        var entries = new List<SqliteBackplaneLogEntry>();
        while (reader.Read())
        {
            var body = (byte[])reader.GetValue(6);
            var kind = (MessageKind)reader.GetInt32(2);
            var entry = new SqliteBackplaneLogEntry
            {
                Id = reader.GetInt64(0),
                Hub = reader.GetString(1),
                Kind = Enum.IsDefined(kind) ? kind.ToString() : ((int)kind).ToString(CultureInfo.InvariantCulture),
                NodeId = reader.GetString(3),
                CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4)),
                ExpiresAt = DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)),
                BodyLength = body.Length,
            };
            try
            {
                entry = LogEntryFields.Fill(entry, EnvelopeProtocol.Read(body));
            }
            catch (EnvelopeFormatException ex)
            {
                entry = entry with { DecodeError = ex.Message };
            }

            entries.Add(entry);
        }

        return entries;
    }
}

/// <summary>One entry of the backplane's log (a row of its messages table), as <see cref="SqliteBackplaneMaintenance.ReadLogAsync"/> returns it.</summary>
internal sealed record SqliteBackplaneLogEntry
{
    /// <summary>Gets the entry's id: entries are written and read in id order.</summary>
    public required long Id { get; init; }

    /// <summary>Gets the hub type name the entry is for; empty for entries about the backplane itself (a node gone).</summary>
    public required string Hub { get; init; }

    /// <summary>
    /// Gets what the entry asks readers to do: <c>All</c>, <c>Connections</c>, <c>Groups</c>, <c>Users</c>,
    /// <c>GroupAdd</c>, <c>GroupRemove</c>, <c>ClientInvocation</c>, <c>ClientCompletion</c> or <c>NodeGone</c>
    /// (a number for a kind this version does not know).
    /// </summary>
    public required string Kind { get; init; }

    /// <summary>Gets the id of the node (process) that wrote the entry.</summary>
    public required string NodeId { get; init; }

    /// <summary>Gets when the entry was written.</summary>
    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>Gets when the entry expires and may be deleted.</summary>
    public required DateTimeOffset ExpiresAt { get; init; }

    /// <summary>Gets the size of the stored envelope in bytes.</summary>
    public required int BodyLength { get; init; }

    /// <summary>Gets the connection ids, group names, user ids or node id the entry targets, by <see cref="Kind"/>.</summary>
    public IReadOnlyList<string> Targets { get; init; } = [];

    /// <summary>Gets the connection ids excluded from an <c>All</c> or <c>Groups</c> entry.</summary>
    public IReadOnlyList<string> Excluded { get; init; } = [];

    /// <summary>Gets the invocation id of a client-result entry, else null.</summary>
    public string? InvocationId { get; init; }

    /// <summary>Gets the node a client result is to be sent back to, else null.</summary>
    public string? ReplyNodeId { get; init; }

    /// <summary>Gets the serialized hub message, once per hub protocol; empty when the payloads could not be read.</summary>
    public IReadOnlyList<SqliteBackplaneLogPayload> Payloads { get; init; } = [];

    /// <summary>
    /// Gets why the envelope could not be decoded (corrupt, written by a newer version, or payloads encrypted), or
    /// null when it was. The fields above the envelope (id, hub, kind, node, times) are always set.
    /// </summary>
    public string? DecodeError { get; init; }
}

/// <summary>A hub message as one hub protocol serialized it, inside a <see cref="SqliteBackplaneLogEntry"/>.</summary>
/// <param name="ProtocolName">The hub protocol's name, such as <c>json</c> or <c>messagepack</c>.</param>
/// <param name="Bytes">The serialized message: text for JSON, binary for MessagePack.</param>
internal sealed record SqliteBackplaneLogPayload(string ProtocolName, ReadOnlyMemory<byte> Bytes);

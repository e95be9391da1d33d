using System.Globalization;
using Microsoft.Data.Sqlite;
using SqliteBackplane.Internal.Messaging;

namespace SqliteBackplane.Maintenance;

/// <summary>
/// Reads the backplane's log on demand, entries decoded, for <c>sqlite-backplane tail</c>: each call one short
/// autocommit read, so following the log beside live nodes never holds the WAL.
/// </summary>
internal sealed class MaintenanceLogReader(MaintenanceFile file)
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
        return MaintenanceFile.RunAsync(_ =>
        {
            using var connection = file.OpenBackplane();
            return file.Read(() =>
            {
                using var command = MaintenanceFile.Command(connection, file.Queries.SelectCursorBeforeLast, ("$count", lastCount));
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
        return MaintenanceFile.RunAsync<IReadOnlyList<SqliteBackplaneLogEntry>>(_ =>
        {
            using var connection = file.OpenBackplane();
            return file.Read(() => ReadLog(connection, position, maxCount));
        }, cancellationToken);
    }

    private List<SqliteBackplaneLogEntry> ReadLog(SqliteConnection connection, long position, int maxCount)
    {
        using var command = MaintenanceFile.Command(connection, file.Queries.SelectLogAfter, ("$cursor", position), ("$limit", maxCount));
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

using System.Buffers.Binary;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// One look at a WAL-mode database's files from outside SQLite: the sizes of the database, <c>-wal</c> and <c>-shm</c>
/// files, and from their headers how far the log reaches (<see cref="LogFrames"/>), how much of it a checkpoint has
/// copied back (<see cref="BackfilledFrames"/>) and how often the log has started over from its beginning
/// (<see cref="LogSalt"/>, the WAL header's first salt, which SQLite adds one to each time). Layouts from https://www.sqlite.org/walformat.html.
/// Never use it in a process that has SQLite connections to the same file: closing any descriptor of a file drops the
/// process's POSIX locks on it, SQLite's included. Test processes that only watch server processes are safe.
/// </summary>
public sealed record WalFiles(long DatabaseBytes, long WalBytes, long ShmBytes, uint LogSalt, long LogFrames, long BackfilledFrames, long BackfillAttempted, int PageSize)
{
    /// <summary>Reads the three files of <paramref name="databasePath"/>; a missing file reads as zero.</summary>
    public static WalFiles Read(string databasePath)
    {
        var walHeader = ReadPrefix(databasePath + "-wal", 32);
        var shm = ReadPrefix(databasePath + "-shm", 136);
        uint salt = 0;
        var pageSize = 0;
        if (walHeader.Length == 32)
        {
            // The WAL header is big-endian: magic, format, page size, checkpoint sequence, salt-1, salt-2, checksums.
            pageSize = (int)BinaryPrimitives.ReadUInt32BigEndian(walHeader.AsSpan(8));
            salt = BinaryPrimitives.ReadUInt32BigEndian(walHeader.AsSpan(16));
        }

        long logFrames = 0, backfilled = 0, attempted = 0;
        if (shm.Length == 136)
        {
            // The wal-index header and checkpoint info are in native byte order: mxFrame at 16, nBackfill at 96,
            // nBackfillAttempted at 128.
            logFrames = BitConverter.ToUInt32(shm, 16);
            backfilled = BitConverter.ToUInt32(shm, 96);
            attempted = BitConverter.ToUInt32(shm, 128);
        }

        return new WalFiles(Length(databasePath), Length(databasePath + "-wal"), Length(databasePath + "-shm"), salt, logFrames, backfilled, attempted, pageSize);
    }

    /// <summary>How many times the log started over between <paramref name="earlier"/> and this sample.</summary>
    public long RestartsSince(WalFiles earlier) => unchecked(LogSalt - earlier.LogSalt);

    /// <summary>The CSV header matching <see cref="ToCsv"/>.</summary>
    public const string CsvHeader = "db_bytes,wal_bytes,shm_bytes,wal_salt,log_frames,backfilled_frames,backfill_attempted";

    /// <summary>The sample as CSV fields in the order of <see cref="CsvHeader"/>.</summary>
    public string ToCsv() => FormattableString.Invariant($"{DatabaseBytes},{WalBytes},{ShmBytes},{LogSalt},{LogFrames},{BackfilledFrames},{BackfillAttempted}");

    private static long Length(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? info.Length : 0;
    }

    private static byte[] ReadPrefix(string path, int length)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var buffer = new byte[length];
            var read = stream.ReadAtLeast(buffer, length, throwOnEndOfStream: false);
            return read == length ? buffer : [];
        }
        catch (FileNotFoundException)
        {
            return [];
        }
    }
}

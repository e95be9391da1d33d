namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// The parameter names the statements in <see cref="SqliteQueries"/> bind, and the column ordinals of the result sets
/// read by name elsewhere, so no SQL name or magic ordinal lives outside Storage.
/// </summary>
internal static class Columns
{
    public const string Node = "$node";
    public const string Machine = "$machine";
    public const string Pid = "$pid";
    public const string Started = "$started";
    public const string Now = "$now";
    public const string Endpoint = "$endpoint";
    public const string Deadline = "$deadline";
    public const string Hub = "$hub";
    public const string Connection = "$connection";
    public const string User = "$user";
    public const string Group = "$group";
    public const string Limit = "$limit";
    public const string Cursor = "$cursor";
    public const string Count = "$count";
    public const string Path = "$path";
    public const string Resumer = "$resumer";
    public const string After = "$after";
    public const string Before = "$before";
    public const string Value = "$value";

    /// <summary>Ordinals of <see cref="SqliteQueries.SelectResumable"/>.</summary>
    public static class ResumableRecord
    {
        public const int UserId = 0;
        public const int DepartedAt = 1;
        public const int Groups = 2;
        public const int ResumedBy = 3;
        public const int ConnectionExists = 4;
    }

    /// <summary>Ordinals of <see cref="SqliteQueries.SelectHubRowsBetween"/> and <see cref="SqliteQueries.SelectHubGroupChangesBetween"/>.</summary>
    public static class HubRow
    {
        public const int Id = 0;
        public const int Body = 2;
    }

    /// <summary>Ordinals of <see cref="SqliteQueries.SelectLogBounds"/>.</summary>
    public static class LogBounds
    {
        public const int Min = 0;
        public const int Max = 1;
    }

    /// <summary>Ordinals of <see cref="SqliteQueries.SelectDeadNodes"/>.</summary>
    public static class DeadNode
    {
        public const int NodeId = 0;
        public const int Endpoint = 1;
    }

    /// <summary>Ordinals of <see cref="SqliteQueries.SelectPeers"/>.</summary>
    public static class Peer
    {
        public const int NodeId = 0;
        public const int MachineName = 1;
        public const int ProcessId = 2;
        public const int Endpoint = 3;
    }

    /// <summary>Ordinals of <see cref="SqliteQueries.SelectMessagesAfter"/> (bound by position: cursor, limit).</summary>
    public static class MessageAfter
    {
        public const int CursorParameter = 1;
        public const int LimitParameter = 2;
        public const int Id = 0;
        public const int Hub = 1;
        public const int Kind = 2;
        public const int CreatedAt = 3;
        public const int ExpiresAt = 4;
        public const int Body = 5;
        public const int MaxId = 6;
    }

    /// <summary>Ordinals of <see cref="SqliteQueries.SelectNodeStatus"/> (bound: <see cref="Deadline"/>).</summary>
    public static class NodeStatus
    {
        public const int NodeId = 0;
        public const int MachineName = 1;
        public const int ProcessId = 2;
        public const int StartedAt = 3;
        public const int HeartbeatAt = 4;
        public const int WakeEndpoint = 5;
        public const int ConnectionCount = 6;
        public const int IsLive = 7;
    }

    /// <summary>Ordinals of <see cref="SqliteQueries.SelectNodes"/> (presence: one hub's view of every node).</summary>
    public static class HubNode
    {
        public const int NodeId = 0;
        public const int MachineName = 1;
        public const int ProcessId = 2;
        public const int StartedAt = 3;
        public const int HeartbeatAt = 4;
        public const int ConnectionCount = 5;
    }

    /// <summary>Ordinals of <see cref="SqliteQueries.SelectConnectionsOfNode"/>.</summary>
    public static class ConnectionOfNode
    {
        public const int Hub = 0;
        public const int ConnectionId = 1;
        public const int UserId = 2;
    }

    /// <summary>Ordinals of <see cref="SqliteQueries.SelectStatistics"/>.</summary>
    public static class Statistics
    {
        public const int MessageCount = 0;
        public const int ExpiredMessageCount = 1;
        public const int FirstMessageId = 2;
        public const int LastMessageId = 3;
        public const int OldestCreatedAt = 4;
        public const int NodeCount = 5;
        public const int ConnectionCount = 6;
        public const int GroupMembershipCount = 7;
        public const int SchemaVersion = 8;
    }

    /// <summary>Ordinals of <see cref="SqliteQueries.SelectPageStatistics"/>.</summary>
    public static class PageStatistics
    {
        public const int PageCount = 0;
        public const int FreePages = 1;
        public const int PageSize = 2;
    }

    /// <summary>Ordinals of <see cref="SqliteQueries.PassiveCheckpoint"/>'s one row.</summary>
    public static class Checkpoint
    {
        public const int Busy = 0;
        public const int LogFrames = 1;
        public const int CheckpointedFrames = 2;
    }

    /// <summary>Ordinals of <see cref="SqliteQueries.SelectNodeStats"/>.</summary>
    public static class NodeStatsRow
    {
        public const int NodeId = 0;
        public const int UpdatedAt = 1;
        public const int Figures = 2;
    }

    /// <summary>Ordinals of <see cref="SqliteQueries.SelectHubSummaries"/>.</summary>
    public static class HubSummary
    {
        public const int Hub = 0;
        public const int Connections = 1;
        public const int Users = 2;
    }

    /// <summary>Ordinals of <see cref="SqliteQueries.SelectLargestGroups"/>.</summary>
    public static class GroupSize
    {
        public const int Name = 0;
        public const int Size = 1;
    }

    /// <summary>Ordinals of <see cref="SqliteQueries.SelectLogAfter"/>.</summary>
    public static class LogRow
    {
        public const int Id = 0;
        public const int Hub = 1;
        public const int Kind = 2;
        public const int NodeId = 3;
        public const int CreatedAt = 4;
        public const int ExpiresAt = 5;
        public const int Body = 6;
    }

    /// <summary>Ordinals of <see cref="SqliteQueries.SelectLogSummary"/>.</summary>
    public static class LogSummary
    {
        public const int FirstId = 0;
        public const int LastId = 1;
        public const int OldestCreatedAt = 2;
    }
}

using System.Text.Json.Serialization;

namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// What a node publishes about itself in the node_stats table while a dashboard watches the file (one JSON object per
/// node): its reader's lag, its local connections, and its counters since it began publishing. New fields are added,
/// never renamed, so a dashboard and a node of different versions read what they both know.
/// </summary>
internal sealed record NodeFigures
{
    /// <summary>Rows in the log this node's reader has not dispatched yet.</summary>
    public long LagRows { get; init; }

    /// <summary>Age of the oldest row this node's reader has not dispatched yet, in milliseconds (0 when current).</summary>
    public long LagMs { get; init; }

    /// <summary>Connections this node holds, over all hubs.</summary>
    public int Connections { get; init; }

    /// <summary>When the counters below started (Unix ms): when this node began publishing.</summary>
    public long Since { get; init; }

    /// <summary>Sends this node appended.</summary>
    public long Published { get; init; }

    /// <summary>Messages this node handed to local connections.</summary>
    public long Delivered { get; init; }

    /// <summary>Rows skipped because they had expired before this node read them.</summary>
    public long Expired { get; init; }

    /// <summary>Rows this node deleted from the head of the log to keep it under capacity.</summary>
    public long DroppedOldest { get; init; }

    /// <summary>Messages not handed to a slow local connection.</summary>
    public long Dropped { get; init; }

    /// <summary>Write operations that failed.</summary>
    public long WriteFailures { get; init; }

    /// <summary>Resume attempts by outcome: <c>resumed</c>, or <c>gap:&lt;reason&gt;</c>.</summary>
    public Dictionary<string, long> Resume { get; init; } = [];
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(NodeFigures))]
internal sealed partial class NodeFiguresJson : JsonSerializerContext;

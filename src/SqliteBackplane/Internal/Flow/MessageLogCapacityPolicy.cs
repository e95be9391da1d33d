using System.Text.RegularExpressions;
using SqliteBackplane.Internal.Messaging;

namespace SqliteBackplane.Internal.Flow;

/// <summary>
/// The capacity that applies to a send: <see cref="SqliteBackplaneOptions.MaxLogRows"/>, or the smallest
/// <see cref="SqliteBackplaneOptions.LogCapacityOverrides"/> entry whose glob matches the hub ("hub:Chat*", matched
/// against the hub's type name and full name) or, for a group send, one of its groups ("group:alerts-*").
/// </summary>
internal sealed class MessageLogCapacityPolicy
{
    public const string HubPrefix = "hub:";
    public const string GroupPrefix = "group:";

    private readonly int _default;
    private readonly (Regex Pattern, int Capacity, string Key)[] _hubs;
    private readonly (Regex Pattern, int Capacity, string Key)[] _groups;

    public MessageLogCapacityPolicy(SqliteBackplaneOptions options)
    {
        _default = options.MaxLogRows;
        Mode = options.LogFullMode;
        _hubs = Compile(options.LogCapacityOverrides, HubPrefix);
        _groups = Compile(options.LogCapacityOverrides, GroupPrefix);
    }

    public SqliteBackplaneLogFullMode Mode { get; }

    /// <summary>The capacity for a send from <paramref name="hubType"/>; also names what set it, for error messages.</summary>
    public (int Capacity, string Source) CapacityFor(Type hubType, MessageKind kind, IReadOnlyList<string> targets)
    {
        var capacity = _default;
        var source = $"{nameof(SqliteBackplaneOptions)}.{nameof(SqliteBackplaneOptions.MaxLogRows)}";
        foreach (var (pattern, value, key) in _hubs)
        {
            if (value < capacity && (pattern.IsMatch(hubType.Name) || pattern.IsMatch(hubType.FullName ?? hubType.Name)))
            {
                (capacity, source) = (value, Describe(key));
            }
        }

        if (kind == MessageKind.Groups)
        {
            foreach (var (pattern, value, key) in _groups)
            {
                if (value < capacity && targets.Any(pattern.IsMatch))
                {
                    (capacity, source) = (value, Describe(key));
                }
            }
        }

        return (capacity, source);
    }

    private static string Describe(string key) =>
        $"{nameof(SqliteBackplaneOptions)}.{nameof(SqliteBackplaneOptions.LogCapacityOverrides)}[\"{key}\"]";

    /// <summary>A glob with * (any run of characters) and ? (one character), matched against the whole name.</summary>
    public static Regex Glob(string pattern) =>
        new("^" + Regex.Escape(pattern).Replace("\\*", ".*", StringComparison.Ordinal).Replace("\\?", ".", StringComparison.Ordinal) + "$",
            RegexOptions.CultureInvariant | RegexOptions.Singleline);

    private static (Regex, int, string)[] Compile(IDictionary<string, int> overrides, string prefix) =>
        [.. overrides.Where(o => o.Key.StartsWith(prefix, StringComparison.Ordinal)).Select(o => (Glob(o.Key[prefix.Length..]), o.Value, o.Key))];
}

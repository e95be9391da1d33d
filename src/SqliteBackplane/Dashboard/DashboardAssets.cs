using System.Security.Cryptography;

namespace SqliteBackplane.Dashboard;

/// <summary>
/// The page's files, embedded in this assembly (Dashboard/Assets, logical names <c>SqliteBackplane.Dashboard.&lt;file&gt;</c>),
/// read once and served from memory with an ETag.
/// </summary>
internal static class DashboardAssets
{
    private const string Prefix = "SqliteBackplane.Dashboard.";

    private static readonly Lazy<Dictionary<string, Asset>> Files = new(Load);

    public sealed record Asset(byte[] Content, string ContentType, string ETag);

    /// <summary>The names of the files, for example <c>index.html</c> and <c>app.js</c>.</summary>
    public static IEnumerable<string> Names => Files.Value.Keys;

    public static Asset? Find(string name) => Files.Value.GetValueOrDefault(name);

    private static Dictionary<string, Asset> Load()
    {
        var assembly = typeof(DashboardAssets).Assembly;
        var files = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var content = buffer.ToArray();
            var name = resource[Prefix.Length..];
            files[name] = new Asset(content, ContentType(name), "\"" + Convert.ToHexString(SHA256.HashData(content))[..16] + "\"");
        }

        return files;
    }

    private static string ContentType(string name) => Path.GetExtension(name) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        _ => "application/octet-stream",
    };
}

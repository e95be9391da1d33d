namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// The wake endpoint a node records in its row (<c>unix:&lt;socket path&gt;</c> or <c>udp:&lt;port&gt;</c>), as far as
/// removing a node is concerned: whoever removes a dead node's rows (a live node's reaper, the maintenance API) then
/// deletes the socket it left on this machine, like <see cref="NodeRowRemoval"/> for its rows.
/// </summary>
internal static class WakeEndpoints
{
    /// <summary>The scheme of a Unix domain socket endpoint.</summary>
    public const string UnixScheme = "unix:";

    /// <summary>
    /// Deletes the socket file a removed node on this machine left behind, when that file is a node's socket in this
    /// user's socket directory and nobody is bound to it any more. Any other path a node row names (a row can be written
    /// by anyone who can write the database) is left alone.
    /// </summary>
    public static void DeleteStale(string? endpoint)
    {
        if (endpoint is null || !endpoint.StartsWith(UnixScheme, StringComparison.Ordinal) || OperatingSystem.IsWindows())
        {
            return;
        }

        var path = endpoint[UnixScheme.Length..];
        if (!Path.IsPathFullyQualified(path) || !SocketDirectory.IsNodeSocketName(Path.GetFileName(path))
            || !string.Equals(Path.GetDirectoryName(path), SocketDirectory.Path(), StringComparison.Ordinal))
        {
            return;
        }

        SocketDirectory.DeleteIfDead(path);
    }
}

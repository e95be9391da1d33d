namespace ChatSample;

/// <summary>Which server process this is; shown on the page so the scale-out is visible. Served at <c>GET /api/instance</c>.</summary>
/// <param name="Instance">The instance number given by the launcher (1, 2, ...).</param>
/// <param name="Port">The port this process listens on.</param>
/// <param name="ProcessId">The operating-system process id.</param>
/// <param name="MachineName">The machine name.</param>
/// <param name="Database">The full path of the shared SQLite file.</param>
public sealed record ServerInstance(int Instance, int Port, int ProcessId, string MachineName, string Database)
{
    /// <summary>The base URL of a sample instance on this machine.</summary>
    public static string LoopbackUrl(int port) => $"http://127.0.0.1:{port}";

    /// <summary>
    /// The group of this process's own connections, which its <see cref="Hubs.PresenceForwarder"/> sends to. The ':' keeps
    /// it apart from rooms, whose names cannot contain one.
    /// </summary>
    public string LocalGroup() => $"instance:{ProcessId}";
}

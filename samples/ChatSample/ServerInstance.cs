namespace ChatSample;

/// <summary>Which server process this is; shown on the page so the scale-out is visible. Served at <c>GET /api/instance</c>.</summary>
/// <param name="Instance">The instance number given by the launcher (1, 2, ...).</param>
/// <param name="Port">The port this process listens on.</param>
/// <param name="ProcessId">The operating-system process id.</param>
/// <param name="MachineName">The machine name.</param>
/// <param name="Database">The full path of the shared SQLite file.</param>
public sealed record ServerInstance(int Instance, int Port, int ProcessId, string MachineName, string Database);

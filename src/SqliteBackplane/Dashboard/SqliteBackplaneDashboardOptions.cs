namespace SqliteBackplane;

/// <summary>Options of the dashboard mapped by <c>MapSqliteBackplaneDashboard</c>.</summary>
public sealed class SqliteBackplaneDashboardOptions
{
    /// <summary>
    /// Gets or sets whether the live tail shows each row's payload (the serialized hub message, cut to 400 characters).
    /// Payloads can hold user data, so they are hidden by default; when <see cref="SqliteBackplaneOptions.EncryptionKeys"/>
    /// are set, they are decrypted with the app's keys, and rows this process cannot decrypt show no payload.
    /// </summary>
    public bool ShowPayloads { get; set; }
}

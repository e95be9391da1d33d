namespace SqliteBackplane.TestServer;

/// <summary>Where the test server maps its hubs.</summary>
public static class HubPaths
{
    /// <summary>The path of <see cref="TestHub"/>.</summary>
    public const string Test = "/hubs/test";

    /// <summary>The path of <see cref="OtherHub"/>.</summary>
    public const string Other = "/hubs/other";
}

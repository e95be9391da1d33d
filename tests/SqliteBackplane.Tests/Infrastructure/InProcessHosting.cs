namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>How an in-process test server is hosted.</summary>
public enum InProcessHosting
{
    /// <summary>Microsoft.AspNetCore.TestHost: in-memory WebSockets, no ports.</summary>
    TestHost,

    /// <summary>Kestrel on 127.0.0.1 with a random port and real TCP WebSockets.</summary>
    Kestrel,
}

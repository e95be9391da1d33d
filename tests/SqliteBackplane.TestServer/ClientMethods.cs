namespace SqliteBackplane.TestServer;

/// <summary>Names of the methods the test hubs call on clients.</summary>
public static class ClientMethods
{
    /// <summary>Receives one string message.</summary>
    public const string Receive = "Receive";

    /// <summary>Receives one <see cref="TestPayload"/>.</summary>
    public const string ReceivePayload = "ReceivePayload";

    /// <summary>Receives one <see cref="ExactPayload"/>.</summary>
    public const string ReceiveExact = "ReceiveExact";

    /// <summary>A client result: takes an int and returns an int.</summary>
    public const string Compute = "Compute";
}

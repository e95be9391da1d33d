namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>The hub protocol a test client speaks.</summary>
public enum HubProtocolKind
{
    /// <summary>System.Text.Json on the client. The test servers register Newtonsoft, which answers to the same name "json".</summary>
    Json,

    /// <summary>Newtonsoft.Json on the client.</summary>
    NewtonsoftJson,

    /// <summary>The custom <see cref="TestServer.PrefixedJsonHubProtocol"/>, whose bytes differ from every built-in protocol.</summary>
    PrefixedJson,

    /// <summary>MessagePack (binary), served by every test server unless it is started without it.</summary>
    MessagePack,
}

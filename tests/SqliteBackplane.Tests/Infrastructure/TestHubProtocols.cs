using Microsoft.AspNetCore.SignalR.Protocol;
using SqliteBackplane.TestServer;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>Creates hub protocol instances by <see cref="HubProtocolKind"/>.</summary>
public static class TestHubProtocols
{
    /// <summary>The text protocols a test server serves, for the manager-level tests: what a backplane must serialize for.</summary>
    public static IReadOnlyList<IHubProtocol> ServerSide() => [new NewtonsoftJsonHubProtocol(), Create(HubProtocolKind.PrefixedJson)];

    /// <summary>Creates a protocol of the given kind.</summary>
    public static IHubProtocol Create(HubProtocolKind kind) => kind switch
    {
        HubProtocolKind.Json => new JsonHubProtocol(),
        HubProtocolKind.NewtonsoftJson => new NewtonsoftJsonHubProtocol(),
        HubProtocolKind.PrefixedJson => new PrefixedJsonHubProtocol(),
        HubProtocolKind.MessagePack => new MessagePackHubProtocol(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown hub protocol kind."),
    };
}

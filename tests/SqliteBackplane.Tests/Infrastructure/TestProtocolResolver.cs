using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// Resolves a fixed set of hub protocols: by default the JSON protocol and the test server's, as a host with
/// AddNewtonsoftJsonProtocol would.
/// </summary>
internal sealed class TestProtocolResolver(IReadOnlyList<IHubProtocol> protocols) : IHubProtocolResolver
{
    public TestProtocolResolver()
        : this([new JsonHubProtocol(), .. TestHubProtocols.ServerSide()])
    {
    }

    public IReadOnlyList<IHubProtocol> AllProtocols { get; } = protocols;

    public IHubProtocol? GetProtocol(string protocolName, IReadOnlyList<string>? supportedProtocols) =>
        AllProtocols.FirstOrDefault(p => p.Name == protocolName && (supportedProtocols is null || supportedProtocols.Contains(p.Name)));
}

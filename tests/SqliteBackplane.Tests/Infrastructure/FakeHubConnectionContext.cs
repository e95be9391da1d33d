using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.Logging.Abstractions;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// A <see cref="HubConnectionContext"/> without a hub connection handler: SignalR sets <see cref="Protocol"/> during
/// the handshake, which tests skip, so this subclass supplies it.
/// </summary>
internal sealed class FakeHubConnectionContext(ConnectionContext connection, IHubProtocol protocol)
    : HubConnectionContext(connection, Options, NullLoggerFactory.Instance)
{
    private static readonly HubConnectionContextOptions Options = new()
    {
        KeepAliveInterval = TimeSpan.FromSeconds(15),
        ClientTimeoutInterval = TimeSpan.FromSeconds(30),
        StreamBufferCapacity = 10,
    };

    public override IHubProtocol Protocol => protocol;
}

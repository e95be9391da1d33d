using Microsoft.AspNetCore.SignalR;
using SqliteBackplane;

namespace ChatSample.Hubs;

/// <summary>
/// Pushes the backplane's presence changes to this process's pages as <see cref="ChatEvents.Presence"/>. Every process
/// receives every change (a connection on any process, a process that joined, stopped or crashed), so each forwards
/// only to its own connections, the members of <see cref="ServerInstance.LocalGroup"/>: a page hears each change once.
/// </summary>
public sealed class PresenceForwarder(
    ISqliteBackplanePresence<ChatHub> presence,
    IHubContext<ChatHub> hubContext,
    ServerInstance server,
    ILogger<PresenceForwarder> logger) : IHostedService
{
    private IDisposable? _subscription;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _subscription = presence.OnPresenceChanged(ForwardAsync);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _subscription?.Dispose();
        return Task.CompletedTask;
    }

    private async Task ForwardAsync(SqliteBackplanePresenceChange change)
    {
        try
        {
            await hubContext.Clients.Group(server.LocalGroup()).SendAsync(ChatEvents.Presence,
                new PresenceEvent(change.Kind.ToString(), change.UserId, change.NodeId));
        }
        catch (Exception ex)
        {
            // Shutting down, or the backplane is failing: the pages refresh presence when they reconnect.
            logger.LogDebug(ex, "Could not forward a {Kind} presence change.", change.Kind);
        }
    }
}

/// <summary>
/// The payload of <see cref="ChatEvents.Presence"/>: a change's kind (<c>ConnectionJoined</c>, <c>UserLeft</c>,
/// <c>NodeReaped</c>, ...), its user (null for node changes) and the backplane node it concerns.
/// </summary>
public sealed record PresenceEvent(string Kind, string? User, string NodeId);

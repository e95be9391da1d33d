using Microsoft.AspNetCore.SignalR;
using SqliteBackplane;

namespace ChatSample.Hubs;

/// <summary>
/// Broadcasts <see cref="ChatEvents.PresenceChanged"/> after a disconnect, once the presence API no longer lists the
/// connection. SignalR runs the hub's <c>OnDisconnectedAsync</c> before the backplane forgets the connection, so an
/// immediate broadcast would make clients re-query too early and still see the user online.
/// </summary>
public sealed class PresenceNotifier(
    ISqliteBackplanePresence<ChatHub> presence,
    IHubContext<ChatHub> hubContext,
    IHostApplicationLifetime lifetime,
    ILogger<PresenceNotifier> logger)
{
    private static readonly TimeSpan CheckInterval = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan GiveUpAfter = TimeSpan.FromSeconds(5);

    /// <summary>Starts waiting in the background; returns at once.</summary>
    public void AnnounceWhenGone(string connectionId, string userId) => _ = AnnounceWhenGoneAsync(connectionId, userId, lifetime.ApplicationStopping);

    private async Task AnnounceWhenGoneAsync(string connectionId, string userId, CancellationToken stopping)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            timeout.CancelAfter(GiveUpAfter);
            try
            {
                while (await IsStillListedAsync(connectionId, userId, timeout.Token))
                {
                    await Task.Delay(CheckInterval, timeout.Token);
                }
            }
            catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
            {
                // Still listed after the grace period: announce anyway so clients refresh.
            }
            await hubContext.Clients.All.SendAsync(ChatEvents.PresenceChanged, stopping);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // The server is shutting down; the other processes' clients refresh on their own timer.
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Could not announce that connection {ConnectionId} left.", connectionId);
        }
    }

    private async Task<bool> IsStillListedAsync(string connectionId, string userId, CancellationToken cancellationToken)
    {
        var userConnections = await presence.GetUserConnectionsAsync(userId, cancellationToken);
        if (userConnections.Contains(connectionId, StringComparer.Ordinal))
        {
            return true;
        }
        var groups = await presence.GetConnectionGroupsAsync(connectionId, cancellationToken);
        return groups.Count > 0;
    }
}

using Microsoft.AspNetCore.SignalR;
using SqliteBackplane.Internal.Storage;

namespace SqliteBackplane.Internal.Delivery;

/// <summary>
/// Registers a connection that opted in to resume (<see cref="AttachConnectionOperation"/>). When the connection to
/// take over resumed an older one and is still registered, its server may not have noticed its drop yet (a client that
/// drops twice in a row presents its older token again): the registration is tried again every
/// <see cref="RetryDelay"/>, about two seconds in all, and the last attempt refuses with a <c>resumed</c> gap.
/// </summary>
internal static class ResumeAttach
{
    private const int Attempts = 40;
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(50);

    public static async Task WriteAsync(IDeliveryNode node, string hub, HubConnectionContext connection, ResumeTicket? ticket, long windowMs)
    {
        for (var attempt = 1; ; attempt++)
        {
            var last = attempt >= Attempts || connection.ConnectionAborted.IsCancellationRequested;
            var result = await node.WriteAsync(new AttachConnectionOperation(hub, connection.ConnectionId, connection.UserIdentifier, ticket,
                node.ResumeTokens, windowMs, lastAttempt: last));
            if (result != AttachConnectionOperation.Busy)
            {
                return;
            }

            await Task.Delay(RetryDelay);
        }
    }
}

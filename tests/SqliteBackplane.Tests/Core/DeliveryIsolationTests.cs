using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SqliteBackplane.Internal.Delivery;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;

namespace SqliteBackplane.Tests.Core;

/// <summary>
/// One broken local connection (its write throws, or its context has no protocol) never keeps a row from the others.
/// </summary>
public class DeliveryIsolationTests
{
    public enum SendKind { All, AllExcept, Group, Groups, User, Users, Connections }

    public static TheoryData<SendKind, int> Cases()
    {
        var data = new TheoryData<SendKind, int>();
        foreach (var kind in Enum.GetValues<SendKind>())
        {
            // Below and above the fan-out size that goes through the lanes.
            data.Add(kind, 5);
            data.Add(kind, ConnectionLanes.MinRecipientsForLanes + 8);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Every_healthy_connection_receives_a_row_exactly_once_whatever_the_broken_ones_do(SendKind kind, int healthyCount)
    {
        using var database = new TempDatabase();
        var logger = new EventRecorder<SqliteHubLifetimeManager<TestHub>>();
        using var manager = CreateManager(database, logger);
        var healthy = Enumerable.Range(0, healthyCount).Select(i => new FakeClient(userId: UserOf(kind, i))).ToList();
        // Broken connections first, in the middle and last, alternating the two ways of breaking.
        var broken = new List<HubConnectionContext>
        {
            new BrokenConnection(BrokenConnection.Failure.WriteThrows) { UserIdentifier = UserOf(kind, -1) },
            new BrokenConnection(BrokenConnection.Failure.NoProtocol) { UserIdentifier = UserOf(kind, -2) },
            new BrokenConnection(BrokenConnection.Failure.WriteThrows) { UserIdentifier = UserOf(kind, -3) },
        };
        var all = new List<HubConnectionContext> { broken[0] };
        all.AddRange(healthy.Take(healthyCount / 2).Select(c => c.Connection));
        all.Add(broken[1]);
        all.AddRange(healthy.Skip(healthyCount / 2).Select(c => c.Connection));
        all.Add(broken[2]);
        try
        {
            foreach (var connection in all)
            {
                await manager.OnConnectedAsync(connection).DefaultTimeout();
            }

            for (var i = 0; i < all.Count; i++)
            {
                var group = kind == SendKind.Groups ? $"g-{i % 2}" : "g";
                await manager.AddToGroupAsync(all[i].ConnectionId, group).DefaultTimeout();
            }

            var excluded = kind == SendKind.AllExcept ? healthy[^1] : null;
            await Send(manager, kind, all, excluded).DefaultTimeout();
            await manager.SendAllAsync(ClientMethods.Receive, ["last"]).DefaultTimeout();

            await Task.WhenAll(healthy.Select(async client =>
            {
                if (client != excluded)
                {
                    await client.AssertReceivesAsync("row");
                }

                // Exactly once: the next message is the one sent after it.
                await client.AssertReceivesAsync("last");
            })).DefaultTimeout();

            // Each broken connection is reported once, though it failed twice.
            await Eventually.BecomesTrueAsync(() => manager.FailedDeliveries == 2 * broken.Count, TaskTimeoutExtensions.DefaultTimeoutValue, "every failed delivery to be counted");
            var reported = logger.ConnectionIdsOf("DeliveryFailed");
            Assert.Equal(broken.Select(c => c.ConnectionId).Order(), reported.Order());
        }
        finally
        {
            foreach (var client in healthy)
            {
                await client.DisposeAsync();
            }
        }
    }

    private static string? UserOf(SendKind kind, int index) => kind switch
    {
        SendKind.User => "shared",
        SendKind.Users => $"user-{index}",
        _ => null,
    };

    private static Task Send(SqliteHubLifetimeManager<TestHub> manager, SendKind kind, List<HubConnectionContext> all, FakeClient? excluded) => kind switch
    {
        SendKind.All => manager.SendAllAsync(ClientMethods.Receive, ["row"]),
        SendKind.AllExcept => manager.SendAllExceptAsync(ClientMethods.Receive, ["row"], [excluded!.ConnectionId]),
        SendKind.Group => manager.SendGroupAsync("g", ClientMethods.Receive, ["row"]),
        SendKind.Groups => manager.SendGroupsAsync(["g-0", "g-1"], ClientMethods.Receive, ["row"]),
        SendKind.User => manager.SendUserAsync("shared", ClientMethods.Receive, ["row"]),
        SendKind.Users => manager.SendUsersAsync([.. all.Select(c => c.UserIdentifier!)], ClientMethods.Receive, ["row"]),
        SendKind.Connections => manager.SendConnectionsAsync([.. all.Select(c => c.ConnectionId)], ClientMethods.Receive, ["row"]),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    private static SqliteHubLifetimeManager<TestHub> CreateManager(TempDatabase database, ILogger<SqliteHubLifetimeManager<TestHub>> logger)
    {
        var options = new SqliteBackplaneOptions { ConnectionString = database.ConnectionString };
        return new SqliteHubLifetimeManager<TestHub>(logger, Options.Create(options), new TestProtocolResolver());
    }

    /// <summary>A connection built by hand that breaks on delivery: its write throws, or it has no protocol.</summary>
    private sealed class BrokenConnection(BrokenConnection.Failure failure)
        : HubConnectionContext(new DefaultConnectionContext(Guid.NewGuid().ToString("N")), Options, NullLoggerFactory.Instance)
    {
        public enum Failure { WriteThrows, NoProtocol }

        private static readonly HubConnectionContextOptions Options = new()
        {
            KeepAliveInterval = TimeSpan.FromSeconds(15),
            ClientTimeoutInterval = TimeSpan.FromSeconds(30),
        };

        private static readonly IHubProtocol Json = new JsonHubProtocol();

        public override IHubProtocol Protocol => failure == Failure.NoProtocol ? null! : Json;

        public override ValueTask WriteAsync(HubMessage message, CancellationToken cancellationToken = default) =>
            throw new InvalidOperationException("This connection's transport is broken.");

        public override ValueTask WriteAsync(SerializedHubMessage message, CancellationToken cancellationToken = default) =>
            throw new InvalidOperationException("This connection's transport is broken.");
    }

    /// <summary>Records the connection id of each logged event, by event name.</summary>
    private sealed class EventRecorder<T> : ILogger<T>
    {
        private readonly ConcurrentQueue<(string? EventName, string? ConnectionId)> _events = new();

        public IReadOnlyList<string> ConnectionIdsOf(string eventName) =>
            [.. _events.Where(e => e.EventName == eventName && e.ConnectionId is not null).Select(e => e.ConnectionId!)];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var connectionId = state is IReadOnlyList<KeyValuePair<string, object?>> values
                ? values.FirstOrDefault(v => v.Key == "ConnectionId").Value as string
                : null;
            _events.Enqueue((eventId.Name, connectionId));
        }
    }
}

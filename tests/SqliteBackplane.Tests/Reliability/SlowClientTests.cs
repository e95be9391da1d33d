using System.Globalization;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Reliability;

/// <summary>
/// A client completes the SignalR handshake and then never reads its socket again. The server's writes to it back up,
/// but the backplane's reader must not wait for them: every other client, on the same server and on another, keeps
/// receiving every message in order. (Delivery is asserted, not latency: a loaded CI machine has no stable timings.)
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
public sealed class SlowClientTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    [Fact]
    public async Task A_client_that_stops_reading_does_not_hold_up_delivery_to_the_others()
    {
        var settings = new TestServerSettings { DatabasePath = Database.Path };
        var stalledServer = await StartAsync(settings, "stalled-server");
        var otherServer = await StartAsync(settings, "other-server");
        var neighbour = await ConnectAsync(stalledServer, "neighbour");
        var remote = await ConnectAsync(otherServer, "remote");
        var sender = await ConnectAsync(otherServer, "sender");
        using var stalled = await StalledClient.ConnectAsync(ListeningAddress(stalledServer), "stalled");
        await Eventually.BecomesTrueAsync(() => sender.InvokeAsync<int>(nameof(TestHub.GetConnectionCount)).Result == 4,
            TaskTimeoutExtensions.DefaultTimeoutValue, "the stalled client is connected");

        // About 10 MB to every connection: far more than the stalled connection's socket and pipe buffers hold.
        // (24 KiB each: hub invocations from clients are limited to 32 KiB by default.)
        const int count = 400;
        var body = new string('p', 24 * 1024);
        for (var i = 0; i < count; i++)
        {
            await sender.InvokeAsync(nameof(TestHub.SendAll), $"{i}:{body}");
        }

        foreach (var client in new[] { neighbour, remote, sender })
        {
            for (var i = 0; i < count; i++)
            {
                var message = await client.ReceiveAsync();
                Assert.True(message.StartsWith($"{i}:", StringComparison.Ordinal), $"{client.Description} expected message {i}, got '{message[..Math.Min(20, message.Length)]}'.");
            }
        }

        // The stall was real: bytes sit unread in the stalled client's socket, and its server still sends it nothing more.
        var unread = stalled.UnreadBytes();
        Output.WriteLine($"Delivered {count} x 24 KiB to three clients while the stalled client left {unread} bytes unread in its socket.");
        Assert.True(unread > 0, "The stalled client's socket holds no unread bytes: the test did not stall anything.");
        await sender.InvokeAsync(nameof(TestHub.SendAll), "after");
        await neighbour.AssertReceivesAsync("after");
        await remote.AssertReceivesAsync("after");
        ServerLogs.AssertNoErrors(stalledServer);
    }

    private static Uri ListeningAddress(ServerProcess server)
    {
        var line = server.Output.Split('\n').First(l => l.Contains(TestServerApp.ListeningPrefix, StringComparison.Ordinal));
        return new Uri(line[(line.IndexOf(TestServerApp.ListeningPrefix, StringComparison.Ordinal) + TestServerApp.ListeningPrefix.Length)..].Trim());
    }

    /// <summary>A WebSocket SignalR client over a raw TCP socket with a tiny receive buffer that reads the handshake and then nothing.</summary>
    private sealed class StalledClient : IDisposable
    {
        private readonly TcpClient _tcp;
        private readonly WebSocket _socket;

        private StalledClient(TcpClient tcp, WebSocket socket)
        {
            _tcp = tcp;
            _socket = socket;
        }

        public static async Task<StalledClient> ConnectAsync(Uri address, string user)
        {
            var tcp = new TcpClient { ReceiveBufferSize = 4096 };
            await tcp.ConnectAsync(address.Host, address.Port).DefaultTimeout();
            var stream = tcp.GetStream();
            var request = $"GET {HubPaths.Test}?user={user} HTTP/1.1\r\nHost: {address.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
            var response = new StringBuilder();
            var one = new byte[1];
            while (!response.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
            {
                if (await stream.ReadAsync(one).AsTask().DefaultTimeout("the WebSocket upgrade response") == 0)
                {
                    throw new IOException($"The server closed the connection during the upgrade: {response}");
                }

                response.Append((char)one[0]);
            }

            Assert.StartsWith("HTTP/1.1 101", response.ToString());
            var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = TimeSpan.Zero });
            await socket.SendAsync(Encoding.UTF8.GetBytes("{\"protocol\":\"json\",\"version\":1}\u001e"), WebSocketMessageType.Text, true, CancellationToken.None);
            var handshake = new byte[1024];
            var result = await socket.ReceiveAsync(handshake, CancellationToken.None).DefaultTimeout("the SignalR handshake response");
            Assert.Equal("{}\u001e", Encoding.UTF8.GetString(handshake, 0, result.Count));
            return new StalledClient(tcp, socket);
        }

        /// <summary>The socket's receive queue from /proc/net/tcp: bytes the kernel holds that nobody read.</summary>
        public long UnreadBytes()
        {
            var port = ((System.Net.IPEndPoint)_tcp.Client.LocalEndPoint!).Port.ToString("X4", CultureInfo.InvariantCulture);
            foreach (var line in File.ReadLines("/proc/net/tcp").Skip(1).Concat(File.ReadLines("/proc/net/tcp6").Skip(1)))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields[1].EndsWith(":" + port, StringComparison.Ordinal))
                {
                    return long.Parse(fields[4].Split(':')[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                }
            }

            throw new InvalidOperationException($"The stalled client's socket (local port {port}) is not in /proc/net/tcp or /proc/net/tcp6.");
        }

        public void Dispose()
        {
            _socket.Abort();
            _socket.Dispose();
            _tcp.Dispose();
        }
    }
}

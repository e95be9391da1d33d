using Microsoft.AspNetCore.SignalR;

namespace SqliteBackplane.TestServer;

/// <summary>
/// A send-only worker: a generic host (no Kestrel, no hubs mapped) with SignalR and the backplane, which sends through
/// <see cref="IHubContext{THub}"/> of the web servers' own hub type. Runs <see cref="TestServerSettings.Sends"/> in order,
/// prints <see cref="SentPrefix"/> and the count, and exits.
/// </summary>
public static class SendOnlyWorker
{
    /// <summary>The line prefix the worker prints on stdout once every send has been written to the backplane.</summary>
    public const string SentPrefix = "SENT ";

    /// <summary>Starts the host, sends, stops the host; returns the exit code.</summary>
    public static async Task<int> RunAsync(TestServerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = settings.ContentRoot });
        TestServerApp.ConfigureLogging(builder.Logging);
        TestServerApp.ConfigureServices(builder.Services, settings);

        using var host = builder.Build();
        await host.StartAsync();
        var clients = host.Services.GetRequiredService<IHubContext<TestHub>>().Clients;
        foreach (var send in settings.Sends)
        {
            var kind = send.Split(':', 2)[0];
            var rest = send[Math.Min(send.Length, kind.Length + 1)..];
            var targetAndMessage = rest.Split(':', 2);
            var message = kind == "all" ? rest : targetAndMessage[^1];
            var target = kind switch
            {
                "all" => clients.All,
                "group" when targetAndMessage.Length == 2 => clients.Group(targetAndMessage[0]),
                "user" when targetAndMessage.Length == 2 => clients.User(targetAndMessage[0]),
                "connection" when targetAndMessage.Length == 2 => clients.Client(targetAndMessage[0]),
                _ => null,
            };
            if (target is null)
            {
                await Console.Error.WriteLineAsync($"Unknown send '{send}': use all:<message>, group:<group>:<message>, user:<user>:<message> or connection:<id>:<message>.");
                return 2;
            }

            await target.SendAsync(ClientMethods.Receive, message);
        }

        Console.Out.WriteLine(SentPrefix + settings.Sends.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await host.StopAsync();
        return 0;
    }
}

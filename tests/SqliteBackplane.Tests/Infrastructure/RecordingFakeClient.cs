namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// A connection for a manager driven directly (like <see cref="FakeClient"/>) that records every Receive message in
/// the background, so a test can poll what arrived without a read pending on the pipe.
/// </summary>
internal sealed class RecordingFakeClient : IAsyncDisposable
{
    private readonly DuplexPipe _application;
    private readonly Microsoft.AspNetCore.SignalR.Protocol.IHubProtocol _protocol = new Microsoft.AspNetCore.SignalR.Protocol.JsonHubProtocol();
    private readonly List<string> _messages = [];
    private readonly Task _pump;

    public RecordingFakeClient(string? userId = null)
    {
        var (transport, application) = DuplexPipe.CreatePair();
        _application = application;
        var context = new Microsoft.AspNetCore.Connections.DefaultConnectionContext(Guid.NewGuid().ToString("N"), transport, application);
        Connection = new FakeHubConnectionContext(context, _protocol) { UserIdentifier = userId };
        _pump = Task.Run(PumpAsync);
    }

    public Microsoft.AspNetCore.SignalR.HubConnectionContext Connection { get; }

    public string ConnectionId => Connection.ConnectionId;

    public List<string> Messages
    {
        get
        {
            lock (_messages)
            {
                return [.. _messages];
            }
        }
    }

    public bool HasReceived(string message)
    {
        lock (_messages)
        {
            return _messages.Contains(message);
        }
    }

    private async Task PumpAsync()
    {
        var reader = _application.Input;
        while (true)
        {
            var result = await reader.ReadAsync();
            var buffer = result.Buffer;
            while (_protocol.TryParseMessage(ref buffer, FakeClientBinder.Instance, out var message))
            {
                if (message is Microsoft.AspNetCore.SignalR.Protocol.InvocationMessage { Target: ClientMethodsReceive } invocation && invocation.Arguments.Length == 1)
                {
                    lock (_messages)
                    {
                        _messages.Add(invocation.Arguments[0]?.ToString() ?? "");
                    }
                }
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                return;
            }
        }
    }

    private const string ClientMethodsReceive = SqliteBackplane.TestServer.ClientMethods.Receive;

    public async ValueTask DisposeAsync()
    {
        await _application.Output.CompleteAsync();
        await _application.Input.CompleteAsync();
        await Task.WhenAny(_pump, Task.Delay(1000));
    }
}

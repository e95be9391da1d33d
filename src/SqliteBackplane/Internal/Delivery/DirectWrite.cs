using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace SqliteBackplane.Internal.Delivery;

/// <summary>A write to a local connection that may run later, on the reader thread, to keep this process's order.</summary>
internal sealed class DirectWrite(HubConnectionContext connection, HubMessage message, CancellationToken cancellationToken)
{
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Task => _completion.Task;

    public void Run()
    {
        ValueTask write;
        try
        {
            write = connection.WriteAsync(message, cancellationToken);
        }
        catch (Exception ex)
        {
            _completion.TrySetException(ex);
            return;
        }

        if (write.IsCompletedSuccessfully)
        {
            write.GetAwaiter().GetResult();
            _completion.TrySetResult();
            return;
        }

        _ = CompleteAsync(write);
    }

    private async Task CompleteAsync(ValueTask write)
    {
        try
        {
            await write;
            _completion.TrySetResult();
        }
        catch (Exception ex)
        {
            _completion.TrySetException(ex);
        }
    }
}

namespace SqliteBackplane.Internal.Delivery;

/// <summary>In-process wake-ups only: other processes' rows are found by the safety poll.</summary>
internal sealed class LocalWakeChannel : WakeChannel
{
    private readonly SemaphoreSlim _signal = new(0, 1);

    public override string? Endpoint => null;

    public override string Mode => "safety poll only";

    public override bool Wait(TimeSpan timeout) => _signal.Wait(timeout);

    public override void WakeLocal()
    {
        try
        {
            _signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled; one pending wake-up is enough.
        }
    }

    public override void Notify(IReadOnlyList<string> endpoints, byte signal)
    {
    }

    public override void Dispose() => _signal.Dispose();
}

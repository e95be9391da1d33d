using System.IO.Pipelines;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>A reader and a writer presented as one <see cref="IDuplexPipe"/>.</summary>
internal sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
{
    public PipeReader Input { get; } = input;

    public PipeWriter Output { get; } = output;

    /// <summary>Creates two connected ends: what one end writes, the other reads.</summary>
    public static (DuplexPipe Transport, DuplexPipe Application) CreatePair()
    {
        var towardsApplication = new Pipe();
        var towardsTransport = new Pipe();
        return (new DuplexPipe(towardsTransport.Reader, towardsApplication.Writer),
                new DuplexPipe(towardsApplication.Reader, towardsTransport.Writer));
    }
}

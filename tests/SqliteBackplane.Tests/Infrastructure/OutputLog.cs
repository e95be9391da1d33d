using System.Text;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>
/// Collects a server's output lines (thread-safe), keeps them for failure messages, and mirrors them to the test's
/// output while the test runs.
/// </summary>
public sealed class OutputLog(string source, ITestOutputHelper? testOutput)
{
    private readonly Lock _lock = new();
    private readonly StringBuilder _text = new();

    public void Add(string stream, string line)
    {
        var entry = $"[{source} {stream} {DateTime.UtcNow:HH:mm:ss.fff}] {line}";
        lock (_lock)
        {
            _text.AppendLine(entry);
        }
        try
        {
            testOutput?.WriteLine(entry);
        }
        catch (InvalidOperationException)
        {
            // The test already finished; the line stays in the buffer.
        }
    }

    public override string ToString()
    {
        lock (_lock)
        {
            return _text.ToString();
        }
    }
}

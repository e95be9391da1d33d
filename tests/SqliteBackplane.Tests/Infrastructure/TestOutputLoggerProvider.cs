
namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>Writes an in-process server's logs to its <see cref="OutputLog"/>.</summary>
public sealed class TestOutputLoggerProvider(OutputLog log) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new OutputLogger(log, categoryName);

    public void Dispose()
    {
    }

    private sealed class OutputLogger(OutputLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var line = $"{logLevel} {category}: {formatter(state, exception)}";
            log.Add("log", exception is null ? line : $"{line}{Environment.NewLine}{exception}");
        }
    }
}

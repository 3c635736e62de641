using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Busbar.Nats.Tests;

/// <summary>Writes the transport's log to the test output, so a failing fault test shows what the transport saw.</summary>
internal sealed class TestOutputLoggerFactory(ITestOutputHelper output) : ILoggerFactory, ILogger
{
    public ILogger CreateLogger(string categoryName) => categoryName.StartsWith("Busbar", StringComparison.Ordinal) ? this : Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        try
        {
            output.WriteLine($"{TimeProvider.System.GetUtcNow():HH:mm:ss.fff} {logLevel} {formatter(state, exception)} {exception?.GetType().Name} {exception?.Message}");
        }
        catch (InvalidOperationException)
        {
            // The test already finished.
        }
    }
}

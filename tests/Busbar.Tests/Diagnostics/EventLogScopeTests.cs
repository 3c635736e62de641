using System.Collections.Concurrent;
using Busbar.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Busbar.Tests.Diagnostics;

/// <summary>
/// The event scope as a sink that flattens scopes sees it (Serilog, Seq, OpenTelemetry log
/// attributes): one property bag per log record, holding the record's own <c>EventId</c> and every
/// scope's pairs, where a repeated key overwrites or is dropped. (The message templates' own holes
/// are not flattened here: they are the log messages' concern, not the scope's.)
/// </summary>
public class EventLogScopeTests
{
    [Fact]
    public async Task HandlerFails_FlattenedScope_KeepsLogEventIdAndBusbarIdsApart()
    {
        var logger = new FlatteningLogger();
        await using var bus = new EventBusBuilder().WithLoggerFactory(new SingleLoggerFactory(logger)).Build();
        bus.Subscribe<DiagOrder>(_ => throw new InvalidOperationException("boom"), new SubscriptionOptions { Name = "failing" });

        var handle = await bus.PublishAsync(new DiagOrder(1));
        await handle.AsValueTask().Within();

        var record = Assert.Single(logger.Records, r => r.Level == LogLevel.Error);
        Assert.Empty(record.Collisions);
        Assert.IsType<EventId>(record.Properties["EventId"]);
        Assert.Equal(handle.EventId, record.Properties["busbar.event_id"]);
        Assert.Equal("diag.order", record.Properties["busbar.event_name"]);
        Assert.Equal(handle.Context.CorrelationId, record.Properties["busbar.correlation_id"]);
        Assert.Equal("failing", record.Properties["busbar.subscription"]);
    }

    [Fact]
    public async Task Scope_KeysAndText_UsePrefixedNames()
    {
        await using var bus = EventBus.Create();
        var handle = await bus.PublishAsync(new DiagOrder(1));
        await handle.AsValueTask().Within();

        var scope = new EventLogScope(handle.Context, "audit");

        Assert.Equal(["busbar.event_id", "busbar.event_name", "busbar.correlation_id", "busbar.subscription"], scope.Select(kv => kv.Key));
        Assert.Equal($"busbar.event_id:{handle.EventId} busbar.event_name:diag.order busbar.correlation_id:{handle.Context.CorrelationId} busbar.subscription:audit", scope.ToString());
    }

    internal sealed record FlatRecord(LogLevel Level, Dictionary<string, object?> Properties, List<string> Collisions);

    private sealed class FlatteningLogger : ILogger
    {
        private readonly AsyncLocal<ImmutableScopes?> _scopes = new();

        public ConcurrentQueue<FlatRecord> Records { get; } = new();

        public IDisposable BeginScope<TState>(TState state)
            where TState : notnull
        {
            var parent = _scopes.Value;
            _scopes.Value = new ImmutableScopes(state, parent);
            return new Pop(this, parent);
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var properties = new Dictionary<string, object?>(StringComparer.Ordinal) { ["EventId"] = eventId };
            var collisions = new List<string>();
            for (var scope = _scopes.Value; scope is not null; scope = scope.Parent)
            {
                if (scope.State is IEnumerable<KeyValuePair<string, object?>> pairs)
                    Add(pairs, properties, collisions);
            }

            Records.Enqueue(new FlatRecord(logLevel, properties, collisions));
        }

        private static void Add(IEnumerable<KeyValuePair<string, object?>> pairs, Dictionary<string, object?> properties, List<string> collisions)
        {
            foreach (var (key, value) in pairs)
            {
                if (key == "{OriginalFormat}")
                    continue;
                if (!properties.TryAdd(key, value))
                    collisions.Add(key);
            }
        }

        private sealed record ImmutableScopes(object State, ImmutableScopes? Parent);

        private sealed class Pop(FlatteningLogger logger, ImmutableScopes? parent) : IDisposable
        {
            public void Dispose() => logger._scopes.Value = parent;
        }
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;
using Busbar.Diagnostics;
using Microsoft.Extensions.Compliance.Classification;
using Microsoft.Extensions.Compliance.Redaction;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Busbar.Tests.Diagnostics;

public sealed class PrivateDataAttribute() : DataClassificationAttribute(new DataClassification("Test", "Private"));

[EventName("diag.signed_up")]
public sealed record SignedUp(string Name, [PrivateData] string Email, [property: PrivateData] string Phone, [PrivateData] int BirthYear);

[JsonSerializable(typeof(SignedUp))]
internal sealed partial class LoggingTestsJsonContext : JsonSerializerContext;

internal sealed class MarkingRedactorProvider : IRedactorProvider
{
    public Redactor GetRedactor(DataClassificationSet classifications) => new MarkingRedactor();

    private sealed class MarkingRedactor : Redactor
    {
        private const string Mark = "[REDACTED]";

        public override int GetRedactedLength(ReadOnlySpan<char> input) => Mark.Length;

        public override int Redact(ReadOnlySpan<char> source, Span<char> destination)
        {
            Mark.AsSpan().CopyTo(destination);
            return Mark.Length;
        }
    }
}

public class LoggingTests
{
    private const string Email = "ada@example.org";
    private const string Phone = "+44 20 7946 0958";

    private static FakeLogger NewLogger(LogLevel minimum = LogLevel.Trace)
    {
        var options = new FakeLogCollectorOptions();
        var logger = new FakeLogger(new FakeLogCollector(Microsoft.Extensions.Options.Options.Create(options)));
        logger.ControlLevel(LogLevel.Trace, minimum <= LogLevel.Trace);
        logger.ControlLevel(LogLevel.Debug, minimum <= LogLevel.Debug);
        logger.ControlLevel(LogLevel.Information, minimum <= LogLevel.Information);
        return logger;
    }

    [Fact]
    public async Task PublishAsync_DebugEnabled_LogsPublishedInsideEventScope()
    {
        var logger = NewLogger();
        await using var bus = new EventBusBuilder().WithLoggerFactory(new SingleLoggerFactory(logger)).Build();
        bus.Subscribe<DiagOrder>(_ => { });

        var handle = await bus.PublishAsync(new DiagOrder(1));
        await handle.AsValueTask().Within();

        var published = logger.Collector.GetSnapshot().Single(r => r.Id.Id == 1);
        Assert.Equal(LogLevel.Debug, published.Level);
        var scope = Assert.IsType<EventLogScope>(Assert.Single(published.Scopes));
        var values = scope.ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal(handle.EventId, values[EventLogScope.EventIdKey]);
        Assert.Equal("diag.order", values[EventLogScope.EventNameKey]);
        Assert.Equal(handle.Context.CorrelationId, values[EventLogScope.CorrelationIdKey]);
        Assert.Contains(logger.Collector.GetSnapshot(), r => r.Id.Id == 102 && r.Scopes.Count == 1);
    }

    [Fact]
    public async Task OnEventShedThrows_ErrorNamesTheEventAndStatus()
    {
        var logger = NewLogger(LogLevel.Information);
        await using var bus = new EventBusBuilder()
            .WithLoggerFactory(new SingleLoggerFactory(logger))
            .WithOptions(new EventBusOptions { Capacity = 1, FullMode = BusFullMode.DropNewest, OnEventShed = _ => throw new InvalidOperationException("callback") })
            .Build();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<DiagOrder>(async (_, _, _) => await gate.Task);
        var running = await bus.PublishAsync(new DiagOrder(1));
        await TestTimeout.Until(() => running.Context.Stage == EventContext.StageRunning);
        await bus.PublishAsync(new DiagOrder(2));

        var dropped = await bus.PublishAsync(new DiagOrder(3));
        gate.SetResult();

        var record = logger.Collector.GetSnapshot().Single(r => r.Id.Id == 8);
        Assert.IsType<InvalidOperationException>(record.Exception);
        Assert.Contains(dropped.EventId.ToString(), record.Message, StringComparison.Ordinal);
        Assert.Contains("diag.order", record.Message, StringComparison.Ordinal);
        Assert.Contains("Dropped", record.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HandlerThrows_ErrorLoggedWithExceptionInsideScopeNamingSubscription()
    {
        var logger = NewLogger(LogLevel.Information);
        await using var bus = new EventBusBuilder().WithLoggerFactory(new SingleLoggerFactory(logger)).Build();
        bus.Subscribe<DiagOrder>((_, _, _) => throw new InvalidOperationException("boom"), new SubscriptionOptions { Name = "failing" });

        var handle = await bus.PublishAsync(new DiagOrder(2));
        await handle.AsValueTask().Within();

        var error = logger.Collector.GetSnapshot().Single(r => r.Level == LogLevel.Error);
        Assert.IsType<InvalidOperationException>(error.Exception);
        var scope = Assert.IsType<EventLogScope>(Assert.Single(error.Scopes));
        Assert.Contains(scope, kv => kv.Key == "busbar.subscription" && (string?)kv.Value == "failing");
        Assert.Contains(scope, kv => kv.Key == "busbar.event_id" && (Guid?)kv.Value == handle.EventId);
        Assert.DoesNotContain(logger.Collector.GetSnapshot(), r => r.Level == LogLevel.Debug);
    }

    [Fact]
    public async Task HandlerRetried_WarningLoggedPerRetry()
    {
        var logger = NewLogger(LogLevel.Information);
        await using var bus = new EventBusBuilder().WithLoggerFactory(new SingleLoggerFactory(logger)).Build();
        var calls = 0;
        bus.Subscribe<DiagOrder>(
            (_, _, _) => ++calls < 3 ? throw new TimeoutException("flaky") : ValueTask.CompletedTask,
            new SubscriptionOptions { Name = "flaky", Retry = RetryPolicy.Constant(3, TimeSpan.FromMilliseconds(1)) });

        var outcome = await (await bus.PublishAsync(new DiagOrder(3))).AsValueTask().Within();

        Assert.True(outcome.IsSuccess);
        var retries = logger.Collector.GetSnapshot().Where(r => r.Id.Id == 12).ToList();
        Assert.Equal(2, retries.Count);
        Assert.All(retries, r => Assert.Equal(LogLevel.Warning, r.Level));
        Assert.All(retries, r => Assert.IsType<EventLogScope>(Assert.Single(r.Scopes)));
    }

    [Fact]
    public async Task DropStorm_LogsOneWarningPerSecondWithSuppressedCount()
    {
        var time = new FakeTimeProvider();
        var logger = NewLogger(LogLevel.Information);
        var gate = new Gate();
        await using var bus = new EventBusBuilder()
            .WithOptions(new EventBusOptions { Capacity = 1, FullMode = BusFullMode.DropNewest })
            .WithTimeProvider(time)
            .WithLoggerFactory(new SingleLoggerFactory(logger))
            .Build();
        bus.Subscribe<DiagOrder>(async (_, _, _) => await gate.PassAsync());
        await bus.PublishAsync(new DiagOrder(0));
        await Eventually.True(() => gate.Entered == 1, "first event running");
        await bus.PublishAsync(new DiagOrder(1));

        for (var i = 0; i < 100; i++)
            await bus.PublishAsync(new DiagOrder(100 + i));
        var first = logger.Collector.GetSnapshot().Where(r => r.Id.Id == 101).ToList();
        time.Advance(TimeSpan.FromSeconds(1));
        await bus.PublishAsync(new DiagOrder(999));
        var second = logger.Collector.GetSnapshot().Where(r => r.Id.Id == 101).ToList();
        gate.Open();

        var warning = Assert.Single(first);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Equal("0", warning.GetStructuredStateValue("Suppressed"));
        Assert.Equal(2, second.Count);
        Assert.Equal("99", second[1].GetStructuredStateValue("Suppressed"));
        Assert.Equal(101, bus.GetStatistics().Dropped);
    }

    [Fact]
    public async Task PublishAsync_LoggingDisabled_BeginsNoScope()
    {
        var logger = new CountingLogger();
        await using var bus = new EventBusBuilder().WithLoggerFactory(new SingleLoggerFactory(logger)).Build();
        bus.Subscribe<DiagOrder>((_, _, _) => throw new InvalidOperationException("boom"));

        await (await bus.PublishAsync(new DiagOrder(4))).AsValueTask().Within();

        Assert.True(logger.EnabledChecks > 0);
        Assert.Equal(0, logger.Scopes);
    }

    [Fact]
    public async Task PublishAsync_PayloadLoggingOff_NeverLogsPayload()
    {
        var logger = NewLogger();
        await using var bus = new EventBusBuilder().WithLoggerFactory(new SingleLoggerFactory(logger)).Build();
        bus.Subscribe<SignedUp>((_, _, _) => throw new InvalidOperationException("boom"));

        await (await bus.PublishAsync(new SignedUp("Ada", Email, Phone, 1815))).AsValueTask().Within();

        Assert.DoesNotContain(logger.Collector.GetSnapshot(), r => r.Id.Id == 103);
        AssertNowhere(logger, "Ada");
        AssertNowhere(logger, Email);
    }

    [Fact]
    public async Task LogPayloads_SourceGeneratedContext_ClassifiedMembersNeverReachTheLog()
    {
        var logger = NewLogger();
        var json = new JsonSerializerOptions { TypeInfoResolver = LoggingTestsJsonContext.Default };
        await using var bus = new EventBusBuilder()
            .WithLoggerFactory(new SingleLoggerFactory(logger))
            .LogPayloads(json, new MarkingRedactorProvider())
            .Build();
        bus.Subscribe<SignedUp>((_, _, _) => throw new InvalidOperationException("boom"));

        await (await bus.PublishAsync(new SignedUp("Ada", Email, Phone, 1815))).AsValueTask().Within();

        var payloads = logger.Collector.GetSnapshot().Where(r => r.Id.Id == 103).ToList();
        Assert.Equal(2, payloads.Count);
        Assert.Single(payloads, r => r.Level == LogLevel.Error);
        var payload = payloads.Single(r => r.Level == LogLevel.Debug).GetStructuredStateValue("Payload")!;
        Assert.Contains("\"Name\":\"Ada\"", payload, StringComparison.Ordinal);
        Assert.Contains("\"Email\":\"[REDACTED]\"", payload, StringComparison.Ordinal);
        Assert.Contains("\"Phone\":\"[REDACTED]\"", payload, StringComparison.Ordinal);
        Assert.DoesNotContain("BirthYear", payload, StringComparison.Ordinal);
        AssertNowhere(logger, Email);
        AssertNowhere(logger, Phone);
        AssertNowhere(logger, "1815");
    }

    [Fact]
    public async Task LogPayloads_ReflectionWithoutRedactor_ErasesClassifiedMembers()
    {
        var logger = NewLogger();
#pragma warning disable IL2026, IL3050 // The test exercises the reflection overload on purpose.
        await using var bus = new EventBusBuilder().WithLoggerFactory(new SingleLoggerFactory(logger)).LogPayloads().Build();
#pragma warning restore IL2026, IL3050
        bus.Subscribe<SignedUp>(_ => { });

        await (await bus.PublishAsync(new SignedUp("Ada", Email, Phone, 1815))).AsValueTask().Within();

        var payload = logger.Collector.GetSnapshot().Single(r => r.Id.Id == 103).GetStructuredStateValue("Payload")!;
        Assert.Contains("\"Email\":\"\"", payload, StringComparison.Ordinal);
        AssertNowhere(logger, Email);
        AssertNowhere(logger, Phone);
    }

    private static void AssertNowhere(FakeLogger logger, string secret)
    {
        foreach (var record in logger.Collector.GetSnapshot())
        {
            Assert.DoesNotContain(secret, record.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, record.ToString(), StringComparison.Ordinal);
            foreach (var (_, value) in record.StructuredState ?? [])
                Assert.DoesNotContain(secret, value ?? "", StringComparison.Ordinal);
            foreach (var scope in record.Scopes)
                Assert.DoesNotContain(secret, scope?.ToString() ?? "", StringComparison.Ordinal);
        }
    }

    [Fact]
    public void LogEventIds_EveryArea_UniqueAndInItsDocumentedRange()
    {
        // Every message shares the Busbar category, so a user filtering by event id must get one message.
        var messages = typeof(EventBus).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic)
                .Select(m => (Type: t.Name, Method: m.Name, Attribute: m.GetCustomAttributes(typeof(LoggerMessageAttribute), false).OfType<LoggerMessageAttribute>().SingleOrDefault())))
            .Where(m => m.Attribute is not null)
            .Select(m => (m.Type, m.Method, Id: m.Attribute!.EventId))
            .ToList();

        Assert.True(messages.Count >= 20, $"found only {messages.Count} log messages");
        var duplicates = messages.GroupBy(m => m.Id).Where(g => g.Count() > 1).Select(g => $"{g.Key}: {string.Join(", ", g.Select(m => $"{m.Type}.{m.Method}"))}");
        Assert.Empty(duplicates);
        Assert.All(messages, m =>
        {
            var (low, high) = m.Type switch
            {
                "LogMessages" => (1, 199),
                "WalLogMessages" => (201, 299),
                "TransportLogMessages" => (301, 399),
                _ => throw new Xunit.Sdk.XunitException($"{m.Type}.{m.Method}: a log area without a documented id range"),
            };
            Assert.InRange(m.Id, low, high);
        });
    }

    private sealed class CountingLogger : ILogger
    {
        public int EnabledChecks;
        public int Scopes;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull
        {
            Interlocked.Increment(ref Scopes);
            return null;
        }

        public bool IsEnabled(LogLevel logLevel)
        {
            Interlocked.Increment(ref EnabledChecks);
            return false;
        }

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
        }
    }
}

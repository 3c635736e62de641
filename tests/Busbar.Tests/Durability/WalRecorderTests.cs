using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Busbar.Durability;
using Busbar.Serialization;
using Busbar.Tests.Engine;
using Microsoft.Extensions.Logging.Abstractions;

namespace Busbar.Tests.Durability;

/// <summary>The log's recorder and recovery on their own: a write-ahead log, a payload serializer, no bus.</summary>
public sealed class WalRecorderTests : IDisposable
{
#pragma warning disable IL2026, IL3050
    private static readonly JsonSerializerOptions s_json = new() { TypeInfoResolver = new DefaultJsonTypeInfoResolver() };
#pragma warning restore IL2026, IL3050

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "busbar-recorder-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
            Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task TryAppend_Reopened_RecoveryReturnsTheEventRoutedToItsSubscriptionOnceWithTheNextAttempt()
    {
        using var kit = new EngineTestKit();
        var subscription = kit.Subscribe("audit", (_, _, _) => default, new SubscriptionOptions { Name = "audit" });
        var payloads = new PayloadSerializer(new EventNameRegistry(), s_json, "the write-ahead log");
        var context = EngineTestKit.Context(42);
        context.EventId = Guid.CreateVersion7();
        await AppendAsync(payloads, context, kit);

        await using var log = Open();
        var recovery = new WalRecovery(log.Recovery, payloads, "restarted", TimeProvider.System);
        var waiting = recovery.WaitingCount;
        var recovered = Assert.Single(recovery.Take(subscription));

        Assert.Equal(1, waiting);
        var ready = recovered.Ready!;
        Assert.Equal(context.EventId, ready.EventId);
        Assert.Equal(new Ping(42), ready.Payload);
        Assert.Equal(2, ready.Attempt);
        Assert.Same(subscription, Assert.Single(ready.Route!.Subscriptions));
        Assert.Empty(recovery.Take(subscription));
        Assert.Equal(0, recovery.WaitingCount);
    }

    [Fact]
    public async Task TryAppend_NoSubscriptionWithAStableName_WritesNothing()
    {
        using var kit = new EngineTestKit();
        kit.Subscribe("unnamed", (_, _, _) => default);
        await using var log = Open();
        var recorder = new WalRecorder(log, new PayloadSerializer(new EventNameRegistry(), s_json, "the write-ahead log"), NullLogger.Instance);

        var appended = recorder.TryAppend(EngineTestKit.Context(), kit.Route(), CancellationToken.None, out _);

        Assert.False(appended);
    }

    [Fact]
    public async Task Take_NameWithoutARegisteredType_ReturnsADeadLetterWithTheReason()
    {
        using var kit = new EngineTestKit();
        var subscription = kit.Subscribe("audit", (_, _, _) => default, new SubscriptionOptions { Name = "audit" });
        await AppendAsync(new PayloadSerializer(new EventNameRegistry(), s_json, "the write-ahead log"), EngineTestKit.Context(7), kit);

        await using var log = Open();
        var recovery = new WalRecovery(log.Recovery, new PayloadSerializer(new EventNameRegistry(), s_json, "the write-ahead log"), "restarted", TimeProvider.System);
        var recovered = Assert.Single(recovery.Take(subscription));

        Assert.Null(recovered.Ready);
        Assert.Equal("audit", recovered.Unreadable!.SubscriptionName);
        Assert.Contains($"Unknown event name '{EngineTestKit.PingName}'", recovered.Unreadable.ExceptionMessage, StringComparison.Ordinal);
        Assert.IsType<JsonElement>(recovered.Unreadable.Context.Payload);
    }

    private WriteAheadLog Open() => WriteAheadLog.Open(_dir, new WriteAheadLogOptions(), TimeProvider.System, NullLogger.Instance);

    private async Task AppendAsync(PayloadSerializer payloads, EventContext context, EngineTestKit kit)
    {
        await using var log = Open();
        var recorder = new WalRecorder(log, payloads, NullLogger.Instance);
        Assert.True(recorder.TryAppend(context, kit.Route(), CancellationToken.None, out var append));
        await append.AsTask().Within();
    }
}

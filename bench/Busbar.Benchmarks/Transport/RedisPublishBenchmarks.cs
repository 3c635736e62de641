using System.Text.Json.Serialization;
using BenchmarkDotNet.Attributes;
using Busbar.Benchmarks.Driver.Transports;
using Busbar.Benchmarks.Infrastructure;
using Busbar.Redis;
using Busbar.Testing;
using Busbar.Transport;
using StackExchange.Redis;

namespace Busbar.Benchmarks.Transport;

/// <summary>
/// Issue 14: the Redis transport's publish against the raw client in the same run. 10,000 events of ~100-byte body
/// per invocation to one stream. Baseline: StackExchange.Redis <c>XADD</c> with 256 commands in flight (the raw
/// reference of distributed-transports.md 7.2). Busbar: <see cref="IEventTransport.PublishAsync"/> in batches of 256
/// through its window (names set, envelope, XADD, one doorbell per batch). Busbar bus: <c>bus.PublishAsync</c> on a bus
/// with <c>UseRedis</c>, 256 publishes then their handles awaited together (each completes when Redis
/// accepted the event). Target ≥ 0.6× the baseline's rate for the bus (issue 14); the driver's section (h) measures the
/// same in events/s with interleaved rounds.
/// </summary>
[MemoryDiagnoser]
public class RedisPublishBenchmarks
{
    private const int Events = 10_000;
    private const int Window = 256;

    private RedisServer _server = null!;
    private ConnectionMultiplexer _raw = null!;
    private IDatabase _db = null!;
    private IRedisTransport _transport = null!;
    private IEventBus _bus = null!;
    private byte[] _rawBody = null!;
    private TransportMessage[][] _batches = null!;
    private int _count;

    [GlobalSetup]
    public async Task Setup()
    {
        _count = SuiteMode.Dry ? 512 : Events;
        _server = await RedisServer.StartAsync(persistent: false);
        _raw = await ConnectionMultiplexer.ConnectAsync(_server.Configuration);
        _db = _raw.GetDatabase();
        _transport = await RedisTransport.ConnectAsync(new RedisTransportOptions { Configuration = _server.Configuration, KeyPrefix = "bench:", ConsumerName = "bench" });
        var codec = new EnvelopeCodec(new EventTypeRegistry().Add(BenchTransportJson.Default.OrderPlacedBench));
        var body = new OrderPlacedBench(42, new string('x', 64), 99.5m);
        _rawBody = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(body, BenchTransportJson.Default.OrderPlacedBench);
        var messages = Enumerable.Range(0, _count)
            .Select(_ => codec.Encode(new EventEnvelope { EventId = Guid.CreateVersion7(), Name = "bench.orders.placed", CreatedAt = DateTimeOffset.UnixEpoch }, body))
            .ToArray();
        _batches = messages.Chunk(Window).ToArray();
        _bus = new EventBusBuilder()
            .WithOptions(new EventBusOptions { Name = "bench-redis-bus" })
            .UseRedis(new RedisTransportOptions { Configuration = _server.Configuration, KeyPrefix = "busb:", ConsumerName = "bench-bus" }, TransportBench.Registry(), new TransportBusOptions { Group = "bench-publisher" })
            .Build();
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _bus.StopAsync(TimeSpan.FromSeconds(10));
        await _bus.DisposeAsync();
        await _transport.DisposeAsync();
        await _raw.DisposeAsync();
        await _server.DisposeAsync();
    }

    [IterationCleanup]
    public void Trim()
    {
        _db.KeyDelete(["raw:stream", "bench:stream:bench.orders.placed", "busb:stream:bench.orders.placed"]);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Events, Description = "raw XADD, 256 in flight")]
    public async Task RawXadd()
    {
        var inFlight = new Task[Window];
        for (var i = 0; i < _count; i += Window)
        {
            var n = Math.Min(Window, _count - i);
            for (var j = 0; j < n; j++)
                inFlight[j] = _db.StreamAddAsync("raw:stream", "body", _rawBody);
            await Task.WhenAll(inFlight.AsSpan(0, n).ToArray());
        }
    }

    [Benchmark(OperationsPerInvoke = Events, Description = "Busbar.Redis PublishAsync, batches of 256")]
    public async Task TransportPublish()
    {
        foreach (var batch in _batches)
            await _transport.PublishAsync(batch);
    }

    [Benchmark(OperationsPerInvoke = Events, Description = "Busbar bus.PublishAsync → Redis, 256 handles awaited together")]
    public Task BusPublish() => TransportBench.PublishThroughBusAsync(_bus, _count, CancellationToken.None);
}

[EventName("bench.orders.placed")]
public sealed record OrderPlacedBench(int Number, string Customer, decimal Total);

[JsonSerializable(typeof(OrderPlacedBench))]
[JsonSerializable(typeof(TransportLatencyPing))]
public sealed partial class BenchTransportJson : JsonSerializerContext;

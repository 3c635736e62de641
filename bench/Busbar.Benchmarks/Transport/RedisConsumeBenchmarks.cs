using BenchmarkDotNet.Attributes;
using Busbar.Benchmarks.Infrastructure;
using Busbar.Redis;
using Busbar.Testing;
using Busbar.Transport;
using StackExchange.Redis;

namespace Busbar.Benchmarks.Transport;

/// <summary>
/// Issue 14: consuming with acknowledgement, the transport against the raw client in the same run. Each iteration
/// first fills a stream with 10,000 entries; the benchmark reads and acknowledges all of them. Baseline:
/// <c>XREADGROUP COUNT 500</c> + one batched <c>XACK</c> per read. Busbar: a subscription's deliveries, each acked
/// with <see cref="ITransportDelivery.AckAsync"/>, up to 256 acks awaited together (as concurrent handlers would).
/// Target ≥ 0.5× the baseline's rate.
/// </summary>
[MemoryDiagnoser]
public class RedisConsumeBenchmarks
{
    private const int Events = 10_000;
    private const int AckWindow = 256;

    private RedisServer _server = null!;
    private ConnectionMultiplexer _raw = null!;
    private IDatabase _db = null!;
    private IRedisTransport _transport = null!;
    private ITransportSubscription _subscription = null!;
    private IAsyncEnumerator<ITransportDelivery> _deliveries = null!;
    private TransportMessage[][] _batches = null!;
    private byte[] _rawBody = null!;
    private int _count;

    [GlobalSetup]
    public async Task Setup()
    {
        _count = SuiteMode.Dry ? 512 : Events;
        _server = await RedisServer.StartAsync(persistent: false);
        _raw = await ConnectionMultiplexer.ConnectAsync(_server.Configuration);
        _db = _raw.GetDatabase();
        await _db.StreamCreateConsumerGroupAsync("raw:consume", "g", StreamPosition.Beginning, createStream: true);
        _transport = await RedisTransport.ConnectAsync(new RedisTransportOptions { Configuration = _server.Configuration, KeyPrefix = "benchc:", ConsumerName = "bench", ReadBatchSize = 500 });
        var codec = new EnvelopeCodec(new EventTypeRegistry().Add(BenchTransportJson.Default.OrderPlacedBench));
        var body = new OrderPlacedBench(42, new string('x', 64), 99.5m);
        _rawBody = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(body, BenchTransportJson.Default.OrderPlacedBench);
        _batches = Enumerable.Range(0, _count)
            .Select(_ => codec.Encode(new EventEnvelope { EventId = Guid.CreateVersion7(), Name = "bench.orders.placed", CreatedAt = DateTimeOffset.UnixEpoch }, body))
            .Chunk(AckWindow)
            .ToArray();
        _subscription = await _transport.SubscribeAsync(new TransportSubscriptionOptions { Group = "g", Patterns = ["bench.orders.placed"], MaxInFlight = 1024 });
        _deliveries = _subscription.ReadAllAsync().GetAsyncEnumerator();
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _subscription.DisposeAsync();
        await _transport.DisposeAsync();
        await _raw.DisposeAsync();
        await _server.DisposeAsync();
    }

    [IterationSetup(Target = nameof(RawReadAck))]
    public void FillRaw() => Fill(i => _db.StreamAddAsync("raw:consume", "body", _rawBody));

    [IterationSetup(Target = nameof(TransportReadAck))]
    public void FillTransport()
    {
        foreach (var batch in _batches)
            _transport.PublishAsync(batch).AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Events, Description = "raw XREADGROUP COUNT 500 + batched XACK")]
    public async Task RawReadAck()
    {
        var read = 0;
        while (read < _count)
        {
            var entries = await _db.StreamReadGroupAsync("raw:consume", "g", "bench", StreamPosition.NewMessages, 500);
            if (entries.Length == 0)
                continue;
            var ids = new RedisValue[entries.Length];
            for (var i = 0; i < entries.Length; i++)
                ids[i] = entries[i].Id;
            await _db.StreamAcknowledgeAsync("raw:consume", "g", ids);
            read += entries.Length;
        }
    }

    [Benchmark(OperationsPerInvoke = Events, Description = "Busbar.Redis deliveries + AckAsync, 256 acks in flight")]
    public async Task TransportReadAck()
    {
        var acks = new Task[AckWindow];
        var pending = 0;
        for (var i = 0; i < _count; i++)
        {
            await _deliveries.MoveNextAsync();
            acks[pending++] = _deliveries.Current.AckAsync().AsTask();
            if (pending == AckWindow)
            {
                await Task.WhenAll(acks);
                pending = 0;
            }
        }

        await Task.WhenAll(acks.AsSpan(0, pending).ToArray());
    }

    private void Fill(Func<int, Task> add)
    {
        var tasks = new Task[_count];
        for (var i = 0; i < _count; i++)
            tasks[i] = add(i);
        Task.WhenAll(tasks).GetAwaiter().GetResult();
    }
}

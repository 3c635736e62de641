using BenchmarkDotNet.Attributes;
using Busbar.Benchmarks.Driver.Transports;
using Busbar.Benchmarks.Infrastructure;
using Busbar.Nats;
using Busbar.Testing;
using Busbar.Transport;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Busbar.Benchmarks.Transport;

/// <summary>
/// Issue 15: the NATS transport's publish against the raw client in the same run. 10,000 events of ~100-byte body per
/// invocation to one file-backed stream. Baseline: NATS.Net JetStream publishes with <c>Nats-Msg-Id</c>, 256 awaiting
/// their acknowledgement (the raw reference of distributed-transports.md 4.3). Busbar:
/// <see cref="IEventTransport.PublishAsync"/> in batches of 256 through its window (envelope, subject, message id,
/// bounded attempt). Busbar bus: <c>bus.PublishAsync</c> on a bus with <c>UseNats</c>, 256 publishes then
/// their handles awaited together (each completes with the JetStream acknowledgement). Target ≥ 0.7× the baseline's rate
/// for the bus (issue 15); the driver's section (h) measures the same in events/s with interleaved rounds.
/// </summary>
[MemoryDiagnoser]
public class NatsPublishBenchmarks
{
    private const int Events = 10_000;
    private const int Window = 256;

    private NatsServer _server = null!;
    private NatsConnection _raw = null!;
    private NatsJSContext _js = null!;
    private INatsTransport _transport = null!;
    private IEventBus _bus = null!;
    private EnvelopeCodec _codec = null!;
    private OrderPlacedBench _body = null!;
    private byte[] _rawBody = null!;
    private TransportMessage[][] _batches = null!;
    private int _count;

    [GlobalSetup]
    public async Task Setup()
    {
        _count = SuiteMode.Dry ? 512 : Events;
        _server = await NatsServer.StartAsync();
        _raw = new NatsConnection(new NatsOpts { Url = _server.Url });
        await _raw.ConnectAsync();
        _js = new NatsJSContext(_raw);
        await _js.CreateStreamAsync(new StreamConfig("RAW", ["raw.>"]) { Storage = StreamConfigStorage.File });
        _transport = await NatsTransport.ConnectAsync(new NatsTransportOptions { Url = _server.Url, StreamName = "BENCH", SubjectPrefix = "bench" });
        _codec = new EnvelopeCodec(new EventTypeRegistry().Add(BenchTransportJson.Default.OrderPlacedBench));
        _body = new OrderPlacedBench(42, new string('x', 64), 99.5m);
        _rawBody = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(_body, BenchTransportJson.Default.OrderPlacedBench);
        Encode();
        _bus = new EventBusBuilder()
            .WithOptions(new EventBusOptions { Name = "bench-nats-bus" })
            .UseNats(new NatsTransportOptions { Url = _server.Url, StreamName = "BUSB", SubjectPrefix = "busb" }, TransportBench.Registry(), new TransportBusOptions { Group = "bench-publisher" })
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

    // Fresh event ids per invocation (encoded outside the measurement): re-sent ids would be duplicate acknowledgements.
    [IterationSetup(Target = nameof(TransportPublish))]
    public void Encode() => _batches = Enumerable.Range(0, _count)
        .Select(_ => _codec.Encode(new EventEnvelope { EventId = Guid.CreateVersion7(), Name = "bench.orders.placed", CreatedAt = DateTimeOffset.UnixEpoch }, _body))
        .Chunk(Window)
        .ToArray();

    [IterationCleanup]
    public void Purge()
    {
        _js.PurgeStreamAsync("RAW", new StreamPurgeRequest()).AsTask().GetAwaiter().GetResult();
        _js.PurgeStreamAsync("BENCH", new StreamPurgeRequest()).AsTask().GetAwaiter().GetResult();
        _js.PurgeStreamAsync("BUSB", new StreamPurgeRequest()).AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Events, Description = "raw JetStream publish with Nats-Msg-Id, 256 in flight")]
    public async Task RawPublish()
    {
        var inFlight = new Task[Window];
        for (var i = 0; i < _count; i += Window)
        {
            var n = Math.Min(Window, _count - i);
            for (var j = 0; j < n; j++)
                inFlight[j] = PublishRawAsync();
            await Task.WhenAll(inFlight.AsSpan(0, n).ToArray());
        }
    }

    [Benchmark(OperationsPerInvoke = Events, Description = "Busbar.Nats PublishAsync, batches of 256")]
    public async Task TransportPublish()
    {
        foreach (var batch in _batches)
            await _transport.PublishAsync(batch);
    }

    [Benchmark(OperationsPerInvoke = Events, Description = "Busbar bus.PublishAsync → NATS, 256 handles awaited together")]
    public Task BusPublish() => TransportBench.PublishThroughBusAsync(_bus, _count, CancellationToken.None);

    private async Task PublishRawAsync()
    {
        var ack = await _js.PublishAsync("raw.bench.orders.placed", _rawBody, opts: new NatsJSPubOpts { MsgId = Guid.CreateVersion7().ToString() });
        ack.EnsureSuccess();
    }
}

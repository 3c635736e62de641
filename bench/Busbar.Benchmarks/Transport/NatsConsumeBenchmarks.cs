using BenchmarkDotNet.Attributes;
using Busbar.Benchmarks.Infrastructure;
using Busbar.Nats;
using Busbar.Testing;
using Busbar.Transport;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Busbar.Benchmarks.Transport;

/// <summary>
/// Issue 15: consuming with acknowledgement, the transport against the raw client in the same run. Each iteration first
/// publishes 10,000 events; the benchmark receives and acknowledges all of them. Baseline: NATS.Net
/// <c>ConsumeAsync</c> (continuous pull, 500 buffered) on a durable pull consumer, one <c>AckAsync</c> per message.
/// Busbar: a subscription's deliveries (pulls of exactly the free in-flight room), each acked with
/// <see cref="ITransportDelivery.AckAsync"/>, up to 256 acks awaited together. Target ≥ 0.7× the baseline's rate.
/// </summary>
[MemoryDiagnoser]
public class NatsConsumeBenchmarks
{
    private const int Events = 10_000;
    private const int AckWindow = 256;

    private NatsServer _server = null!;
    private NatsConnection _raw = null!;
    private NatsJSContext _js = null!;
    private INatsJSConsumer _rawConsumer = null!;
    private IAsyncEnumerator<INatsJSMsg<ReadOnlyMemory<byte>>> _rawMessages = null!;
    private INatsTransport _transport = null!;
    private ITransportSubscription _subscription = null!;
    private IAsyncEnumerator<ITransportDelivery> _deliveries = null!;
    private EnvelopeCodec _codec = null!;
    private OrderPlacedBench _body = null!;
    private byte[] _rawBody = null!;
    private int _count;

    [GlobalSetup]
    public async Task Setup()
    {
        _count = SuiteMode.Dry ? 512 : Events;
        _server = await NatsServer.StartAsync();
        _raw = new NatsConnection(new NatsOpts { Url = _server.Url });
        await _raw.ConnectAsync();
        _js = new NatsJSContext(_raw);
        await _js.CreateStreamAsync(new StreamConfig("RAWC", ["rawc.>"]) { Storage = StreamConfigStorage.File });
        _rawConsumer = await _js.CreateOrUpdateConsumerAsync("RAWC", new ConsumerConfig("g") { AckPolicy = ConsumerConfigAckPolicy.Explicit, MaxAckPending = 10_000 });

        // One continuous consume for the whole run, as the transport keeps one subscription: a new one per invocation
        // would leave the previous one's pull requests on the server to swallow the next invocation's messages.
        _rawMessages = _rawConsumer.ConsumeAsync(NatsRawSerializer<ReadOnlyMemory<byte>>.Default, new NatsJSConsumeOpts { MaxMsgs = 500 }).GetAsyncEnumerator();
        _transport = await NatsTransport.ConnectAsync(new NatsTransportOptions { Url = _server.Url, StreamName = "BENCHC", SubjectPrefix = "benchc" });
        _codec = new EnvelopeCodec(new EventTypeRegistry().Add(BenchTransportJson.Default.OrderPlacedBench));
        _body = new OrderPlacedBench(42, new string('x', 64), 99.5m);
        _rawBody = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(_body, BenchTransportJson.Default.OrderPlacedBench);
        _subscription = await _transport.SubscribeAsync(new TransportSubscriptionOptions { Group = "g", Patterns = ["bench.orders.placed"], MaxInFlight = 1024 });
        _deliveries = _subscription.ReadAllAsync().GetAsyncEnumerator();
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _rawMessages.DisposeAsync();
        await _subscription.DisposeAsync();
        await _transport.DisposeAsync();
        await _raw.DisposeAsync();
        await _server.DisposeAsync();
    }

    [IterationSetup(Target = nameof(RawConsumeAck))]
    public void FillRaw()
    {
        var tasks = new Task[_count];
        for (var i = 0; i < _count; i++)
            tasks[i] = _js.PublishAsync("rawc.bench.orders.placed", _rawBody).AsTask();
        Task.WhenAll(tasks).GetAwaiter().GetResult();
    }

    [IterationSetup(Target = nameof(TransportReadAck))]
    public void FillTransport()
    {
        var messages = Enumerable.Range(0, _count)
            .Select(_ => _codec.Encode(new EventEnvelope { EventId = Guid.CreateVersion7(), Name = "bench.orders.placed", CreatedAt = DateTimeOffset.UnixEpoch }, _body))
            .ToArray();
        foreach (var batch in messages.Chunk(AckWindow))
            _transport.PublishAsync(batch).AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Events, Description = "raw ConsumeAsync (500 buffered) + AckAsync")]
    public async Task RawConsumeAck()
    {
        for (var i = 0; i < _count; i++)
        {
            await _rawMessages.MoveNextAsync();
            await _rawMessages.Current.AckAsync();
        }
    }

    [Benchmark(OperationsPerInvoke = Events, Description = "Busbar.Nats deliveries + AckAsync, 256 acks in flight")]
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
}

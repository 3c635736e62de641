using System.Diagnostics;
using System.Text.Json;
using Busbar.Benchmarks.Transport;
using Busbar.Nats;
using Busbar.Testing;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Busbar.Benchmarks.Driver.Transports;

/// <summary>
/// The NATS rows of section (h), on one <c>nats-server -js</c> (file store) that every row shares under its own streams:
/// raw NATS.Net JetStream loops and the same work through a Busbar bus with <c>UseNats</c> (consume rows: <c>UseTransport</c>). Setup
/// (filling a stream, purging, deleting) stays outside the measured time.
/// </summary>
public sealed class NatsRows : IAsyncDisposable
{
    private readonly NatsServer _server;
    private readonly NatsConnection _raw;
    private readonly NatsJSContext _js;
    private INatsTransport? _transport;
    private IEventBus? _publishBus;
    private bool _rawPublishStream;
    private int _next;

    private NatsRows(NatsServer server, NatsConnection raw)
    {
        _server = server;
        _raw = raw;
        _js = new NatsJSContext(raw);
    }

    /// <summary>The server's address, for the fresh-process children.</summary>
    public string Url => _server.Url;

    public static async Task<NatsRows> StartAsync()
    {
        var server = await NatsServer.StartAsync();
        try
        {
            var raw = new NatsConnection(new NatsOpts { Url = server.Url });
            await raw.ConnectAsync();
            return new NatsRows(server, raw);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Raw: JetStream publish of the JSON body with <c>Nats-Msg-Id</c>, <see cref="TransportBench.Window"/> awaiting their acks together.</summary>
    public async Task<TimeSpan> RawPublishAsync(int events, CancellationToken cancellationToken)
    {
        if (!_rawPublishStream)
        {
            await _js.CreateStreamAsync(new StreamConfig("RAWP", ["rawp.>"]) { Storage = StreamConfigStorage.File }, cancellationToken);
            _rawPublishStream = true;
        }

        var started = Stopwatch.GetTimestamp();
        await TransportBench.WindowedAsync(events, () => PublishRawAsync(_js, "rawp.bench.orders.placed", TransportBench.OrderJson), cancellationToken);
        var elapsed = Stopwatch.GetElapsedTime(started);
        await _js.PurgeStreamAsync("RAWP", new StreamPurgeRequest(), cancellationToken);
        return elapsed;
    }

    /// <summary>The transport API alone: <c>IEventTransport.PublishAsync</c> of encoded events (encoded beforehand) in batches of <see cref="TransportBench.Window"/>.</summary>
    public async Task<TimeSpan> TransportPublishAsync(int events, CancellationToken cancellationToken)
    {
        _transport ??= await NatsTransport.ConnectAsync(new NatsTransportOptions { Url = Url, StreamName = "TP", SubjectPrefix = "tp" }, cancellationToken: cancellationToken);
        var batches = TransportBench.EncodeOrders(events);
        var started = Stopwatch.GetTimestamp();
        foreach (var batch in batches)
            await _transport.PublishAsync(batch, cancellationToken);
        var elapsed = Stopwatch.GetElapsedTime(started);
        await _js.PurgeStreamAsync("TP", new StreamPurgeRequest(), cancellationToken);
        return elapsed;
    }

    /// <summary>Busbar: <c>bus.PublishAsync</c> of the event, <see cref="TransportBench.Window"/> handles awaited together (broker acknowledged).</summary>
    public async Task<TimeSpan> BusPublishAsync(int events, CancellationToken cancellationToken)
    {
        if (_publishBus is null)
        {
            _publishBus = new EventBusBuilder()
                .WithOptions(new EventBusOptions { Name = "bench-nats-publisher" })
                .UseNats(new NatsTransportOptions { Url = Url, StreamName = "BUSP", SubjectPrefix = "busp" }, TransportBench.Registry(), new TransportBusOptions { Group = "bench-publisher" })
                .Build();
        }

        var started = Stopwatch.GetTimestamp();
        await TransportBench.PublishThroughBusAsync(_publishBus, events, cancellationToken);
        var elapsed = Stopwatch.GetElapsedTime(started);
        await _js.PurgeStreamAsync("BUSP", new StreamPurgeRequest(), cancellationToken);
        return elapsed;
    }

    /// <summary>
    /// Raw: a stream filled with <paramref name="events"/> messages beforehand; measured from creating a durable pull consumer
    /// (explicit ack) through <c>ConsumeAsync</c> (500 buffered) + <c>AckAsync</c> per message until the server counts no
    /// message pending or unacknowledged.
    /// </summary>
    public async Task<TimeSpan> RawConsumeAsync(int events, CancellationToken cancellationToken)
    {
        var n = Interlocked.Increment(ref _next);
        var stream = $"RAWC{n}";
        var subject = $"rawc{n}.bench.orders.placed";
        await _js.CreateStreamAsync(new StreamConfig(stream, [$"rawc{n}.>"]) { Storage = StreamConfigStorage.File }, cancellationToken);
        try
        {
            await TransportBench.WindowedAsync(events, () => PublishRawAsync(_js, subject, TransportBench.OrderJson), cancellationToken);
            TransportBench.CollectSetupGarbage();
            var started = Stopwatch.GetTimestamp();
            var consumer = await _js.CreateOrUpdateConsumerAsync(stream, new ConsumerConfig("g") { AckPolicy = ConsumerConfigAckPolicy.Explicit, MaxAckPending = 10_000 }, cancellationToken);
            var read = 0;
            await foreach (var message in consumer.ConsumeAsync(NatsRawSerializer<ReadOnlyMemory<byte>>.Default, new NatsJSConsumeOpts { MaxMsgs = 500 }, cancellationToken))
            {
                await message.AckAsync(cancellationToken: cancellationToken);
                if (++read == events)
                    break;
            }

            await WaitUntilAckedAsync(stream, cancellationToken);
            return Stopwatch.GetElapsedTime(started);
        }
        finally
        {
            await _js.DeleteStreamAsync(stream, CancellationToken.None);
        }
    }

    /// <summary>
    /// The transport API alone: its stream filled beforehand; measured from <c>SubscribeAsync</c>
    /// (<see cref="TransportBench.ConsumerConcurrency"/> in flight) through reading every delivery and acking it
    /// (<see cref="TransportBench.Window"/> acks awaited together) until the consumer has nothing pending or unacknowledged.
    /// </summary>
    public async Task<TimeSpan> TransportConsumeAsync(int events, CancellationToken cancellationToken)
    {
        var n = Interlocked.Increment(ref _next);
        var stream = $"TC{n}";
        try
        {
            await using var transport = await NatsTransport.ConnectAsync(new NatsTransportOptions { Url = Url, StreamName = stream, SubjectPrefix = $"tc{n}" }, cancellationToken: cancellationToken);
            await TransportBench.FillAsync(transport, events, cancellationToken);

            TransportBench.CollectSetupGarbage();
            var started = Stopwatch.GetTimestamp();
            await using var subscription = await transport.SubscribeAsync(new() { Group = "g", Patterns = ["bench.orders.placed"], MaxInFlight = TransportBench.ConsumerConcurrency }, cancellationToken);
            await TransportBench.ReadAndAckAsync(subscription, events, cancellationToken);
            await WaitUntilAckedAsync(stream, cancellationToken);
            return Stopwatch.GetElapsedTime(started);
        }
        finally
        {
            await _js.DeleteStreamAsync(stream, CancellationToken.None);
        }
    }

    /// <summary>
    /// Busbar: the transport's stream filled with <paramref name="events"/> encoded events beforehand; measured from building
    /// a bus with <c>UseTransport</c> and subscribing a no-op handler until the server counts no message pending or
    /// unacknowledged for the group's consumer.
    /// </summary>
    /// <remarks>
    /// <c>UseTransport</c> over the transport that filled the stream, rather than <c>UseNats</c> (which is <c>UseTransport</c>
    /// with a connect function), so that connecting is not timed: the raw row's connection is open before its clock starts too.
    /// </remarks>
    public async Task<TimeSpan> BusConsumeAsync(int events, CancellationToken cancellationToken)
    {
        var n = Interlocked.Increment(ref _next);
        var stream = $"BUSC{n}";
        try
        {
            await using var transport = await NatsTransport.ConnectAsync(new NatsTransportOptions { Url = Url, StreamName = stream, SubjectPrefix = $"busc{n}" }, cancellationToken: cancellationToken);
            await TransportBench.FillAsync(transport, events, cancellationToken);

            var handled = 0;
            var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            TransportBench.CollectSetupGarbage();
            var started = Stopwatch.GetTimestamp();
            var bus = new EventBusBuilder()
                .WithOptions(new EventBusOptions { Name = "bench-nats-consumer", MaxConcurrentEvents = TransportBench.ConsumerConcurrency })
                .UseTransport(transport, TransportBench.Registry(), new TransportBusOptions { Group = "g" })
                .Build();
            try
            {
                bus.Subscribe<OrderPlacedBench>((_, _, _) =>
                {
                    if (Interlocked.Increment(ref handled) == events)
                        all.TrySetResult();
                    return ValueTask.CompletedTask;
                });
                await all.Task.WaitAsync(cancellationToken);
                await WaitUntilAckedAsync(stream, cancellationToken);
                return Stopwatch.GetElapsedTime(started);
            }
            finally
            {
                await bus.StopAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
                await bus.DisposeAsync();
            }
        }
        finally
        {
            await _js.DeleteStreamAsync(stream, CancellationToken.None);
        }
    }

    /// <summary>A latency row against <paramref name="url"/>: <c>raw</c> or <c>bus</c>.</summary>
    public static async Task<ILatencyRow> CreateLatencyRowAsync(string kind, string url, CancellationToken cancellationToken) => kind switch
    {
        "raw" => await RawLatency.StartAsync(url, cancellationToken),
        "bus" => await BusLatency.StartAsync(url),
        _ => throw new ArgumentException($"unknown NATS latency row '{kind}' (raw or bus)", nameof(kind)),
    };

    public async ValueTask DisposeAsync()
    {
        if (_publishBus is not null)
        {
            await _publishBus.StopAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
            await _publishBus.DisposeAsync();
        }

        if (_transport is not null)
            await _transport.DisposeAsync();
        await _raw.DisposeAsync();
        await _server.DisposeAsync();
    }

    private static async Task PublishRawAsync(NatsJSContext js, string subject, byte[] body)
    {
        var ack = await js.PublishAsync(subject, body, opts: new NatsJSPubOpts { MsgId = Guid.CreateVersion7().ToString() });
        ack.EnsureSuccess();
    }

    /// <summary>Until the stream's consumers (at least one) have no message left to deliver and none awaiting its ack.</summary>
    private async Task WaitUntilAckedAsync(string stream, CancellationToken cancellationToken) =>
        await TransportBench.WaitUntilAsync(async () =>
        {
            var consumers = 0;
            var left = 0L;
            await foreach (var consumer in _js.ListConsumersAsync(stream, cancellationToken))
            {
                consumers++;
                left += consumer.Info.NumAckPending + (long)consumer.Info.NumPending;
            }

            return consumers > 0 && left == 0;
        }, cancellationToken);

    /// <summary>
    /// Raw latency: JetStream publish (with <c>Nats-Msg-Id</c>, awaiting its ack) on one connection; on a second connection
    /// a durable pull consumer's <c>ConsumeAsync</c> loop records the arrival, then acks.
    /// </summary>
    private sealed class RawLatency : ILatencyRow
    {
        private readonly NatsConnection _publisher;
        private readonly NatsConnection _consumer;
        private readonly NatsJSContext _js;
        private readonly string _subject;
        private readonly LatencyArrival _arrival = new();
        private readonly CancellationTokenSource _stop = new();
        private Task _loop = Task.CompletedTask;

        private RawLatency(NatsConnection publisher, NatsConnection consumer, string subject)
        {
            _publisher = publisher;
            _consumer = consumer;
            _js = new NatsJSContext(publisher);
            _subject = subject;
        }

        public string Name => "NATS raw: JetStream publish → ConsumeAsync loop (own connection)";

        public static async Task<RawLatency> StartAsync(string url, CancellationToken cancellationToken)
        {
            var id = Guid.NewGuid().ToString("N")[..8];
            var publisher = new NatsConnection(new NatsOpts { Url = url });
            var consumer = new NatsConnection(new NatsOpts { Url = url });
            await publisher.ConnectAsync();
            await consumer.ConnectAsync();
            var row = new RawLatency(publisher, consumer, $"latr{id}.ping");
            await row._js.CreateStreamAsync(new StreamConfig($"LATR{id}", [$"latr{id}.>"]) { Storage = StreamConfigStorage.File }, cancellationToken);
            var durable = await new NatsJSContext(consumer).CreateOrUpdateConsumerAsync($"LATR{id}", new ConsumerConfig("g") { AckPolicy = ConsumerConfigAckPolicy.Explicit }, cancellationToken);
            using (ExecutionContext.SuppressFlow())
                row._loop = Task.Run(() => row.ConsumeAsync(durable));
            return row;
        }

        public async Task<double> SampleAsync(long sequence, CancellationToken cancellationToken)
        {
            var arrived = _arrival.Expect(sequence);
            var published = Stopwatch.GetTimestamp();
            var body = JsonSerializer.SerializeToUtf8Bytes(new TransportLatencyPing(sequence, published), BenchTransportJson.Default.TransportLatencyPing);
            await PublishRawAsync(_js, _subject, body).WaitAsync(cancellationToken);
            return TransportBench.Micros(published, await arrived.WaitAsync(cancellationToken));
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            try
            {
                await _loop;
            }
            catch (OperationCanceledException)
            {
                // Stopping ends the consume loop with a cancellation.
            }

            await _consumer.DisposeAsync();
            await _publisher.DisposeAsync();
            _stop.Dispose();
        }

        private async Task ConsumeAsync(INatsJSConsumer consumer)
        {
            try
            {
                await foreach (var message in consumer.ConsumeAsync(NatsRawSerializer<ReadOnlyMemory<byte>>.Default, new NatsJSConsumeOpts { MaxMsgs = 100 }, _stop.Token))
                {
                    var ping = JsonSerializer.Deserialize(message.Data.Span, BenchTransportJson.Default.TransportLatencyPing)!;
                    _arrival.Arrive(ping.Sequence, Stopwatch.GetTimestamp());
                    await message.AckAsync(cancellationToken: _stop.Token);
                }
            }
            catch (Exception ex) when (!_stop.IsCancellationRequested)
            {
                _arrival.Fail(ex);
            }
        }
    }

    /// <summary>
    /// Busbar latency: a publishing bus and a consuming bus (one handler) in this process, each with <c>UseNats</c> (so its
    /// own connection); the handler records its entry time.
    /// </summary>
    private sealed class BusLatency : ILatencyRow
    {
        private readonly IEventBus _publisher;
        private readonly IEventBus _consumer;
        private readonly LatencyArrival _arrival = new();

        private BusLatency(string url)
        {
            var id = Guid.NewGuid().ToString("N")[..8];
            var options = new NatsTransportOptions { Url = url, StreamName = $"LATB{id}", SubjectPrefix = $"latb{id}" };
            _publisher = new EventBusBuilder()
                .WithOptions(new EventBusOptions { Name = "bench-latency-publisher" })
                .UseNats(options, TransportBench.Registry(), new TransportBusOptions { Group = "publisher" })
                .Build();
            _consumer = new EventBusBuilder()
                .WithOptions(new EventBusOptions { Name = "bench-latency-consumer" })
                .UseNats(options, TransportBench.Registry(), new TransportBusOptions { Group = "consumer" })
                .Build();
            var arrival = _arrival;
            _consumer.Subscribe<TransportLatencyPing>((ping, _, _) =>
            {
                arrival.Arrive(ping.Sequence, Stopwatch.GetTimestamp());
                return ValueTask.CompletedTask;
            });
        }

        public string Name => "Busbar bus.PublishAsync → NATS → handler (two buses)";

        public static Task<BusLatency> StartAsync(string url) => Task.FromResult(new BusLatency(url));

        public async Task<double> SampleAsync(long sequence, CancellationToken cancellationToken)
        {
            var arrived = _arrival.Expect(sequence);
            var published = Stopwatch.GetTimestamp();
            var handle = await _publisher.PublishAsync(new TransportLatencyPing(sequence, published), cancellationToken: cancellationToken);
            var outcome = await handle.WaitAsync(cancellationToken);
            if (!outcome.IsSuccess)
                throw new InvalidOperationException($"latency publish {sequence} ended {outcome.Status}: {string.Join("; ", outcome.Handlers.Select(h => h.SubscriptionName + " " + h.Exception))}");
            return TransportBench.Micros(published, await arrived.WaitAsync(cancellationToken));
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var bus in new[] { _publisher, _consumer })
            {
                await bus.StopAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
                await bus.DisposeAsync();
            }
        }
    }
}

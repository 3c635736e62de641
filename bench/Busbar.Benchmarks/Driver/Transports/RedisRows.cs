using System.Diagnostics;
using System.Text.Json;
using Busbar.Benchmarks.Transport;
using Busbar.Redis;
using Busbar.Testing;
using StackExchange.Redis;

namespace Busbar.Benchmarks.Driver.Transports;

/// <summary>
/// The Redis rows of section (h), on one redis-server (no persistence) that every row shares under its own keys: raw
/// StackExchange.Redis loops and the same work through a Busbar bus with <c>UseRedis</c> (consume rows: <c>UseTransport</c>). Setup
/// (filling a stream, deleting keys) stays outside the measured time.
/// </summary>
public sealed class RedisRows : IAsyncDisposable
{
    private readonly RedisServer _server;
    private readonly ConnectionMultiplexer _raw;
    private readonly IDatabase _db;
    private IRedisTransport? _transport;
    private IEventBus? _publishBus;
    private int _next;

    private RedisRows(RedisServer server, ConnectionMultiplexer raw)
    {
        _server = server;
        _raw = raw;
        _db = raw.GetDatabase();
    }

    /// <summary>The server's address, for the fresh-process children.</summary>
    public string Configuration => _server.Configuration;

    public static async Task<RedisRows> StartAsync()
    {
        var server = await RedisServer.StartAsync(persistent: false);
        try
        {
            return new RedisRows(server, await ConnectionMultiplexer.ConnectAsync(server.Configuration));
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Raw: <c>XADD</c> of the JSON body, <see cref="TransportBench.Window"/> in flight, awaited together.</summary>
    public async Task<TimeSpan> RawPublishAsync(int events, CancellationToken cancellationToken)
    {
        var key = $"rawp:{Interlocked.Increment(ref _next)}";
        var started = Stopwatch.GetTimestamp();
        await TransportBench.WindowedAsync(events, () => _db.StreamAddAsync(key, "body", TransportBench.OrderJson), cancellationToken);
        var elapsed = Stopwatch.GetElapsedTime(started);
        await _db.KeyDeleteAsync(key);
        return elapsed;
    }

    /// <summary>The transport API alone: <c>IEventTransport.PublishAsync</c> of encoded events (encoded beforehand) in batches of <see cref="TransportBench.Window"/>.</summary>
    public async Task<TimeSpan> TransportPublishAsync(int events, CancellationToken cancellationToken)
    {
        _transport ??= await RedisTransport.ConnectAsync(new RedisTransportOptions { Configuration = Configuration, KeyPrefix = "tp:", ConsumerName = "bench-transport" }, cancellationToken: cancellationToken);
        var batches = TransportBench.EncodeOrders(events);
        var started = Stopwatch.GetTimestamp();
        foreach (var batch in batches)
            await _transport.PublishAsync(batch, cancellationToken);
        var elapsed = Stopwatch.GetElapsedTime(started);
        await _db.KeyDeleteAsync("tp:stream:bench.orders.placed");
        return elapsed;
    }

    /// <summary>Busbar: <c>bus.PublishAsync</c> of the event, <see cref="TransportBench.Window"/> handles awaited together (broker accepted).</summary>
    public async Task<TimeSpan> BusPublishAsync(int events, CancellationToken cancellationToken)
    {
        if (_publishBus is null)
        {
            _publishBus = new EventBusBuilder()
                .WithOptions(new EventBusOptions { Name = "bench-redis-publisher" })
                .UseRedis(new RedisTransportOptions { Configuration = Configuration, KeyPrefix = "busp:", ConsumerName = "bench-publisher" }, TransportBench.Registry(), new TransportBusOptions { Group = "bench-publisher" })
                .Build();
        }

        var started = Stopwatch.GetTimestamp();
        await TransportBench.PublishThroughBusAsync(_publishBus, events, cancellationToken);
        var elapsed = Stopwatch.GetElapsedTime(started);
        await _db.KeyDeleteAsync("busp:stream:bench.orders.placed");
        return elapsed;
    }

    /// <summary>
    /// Raw: a stream filled with <paramref name="events"/> entries beforehand; measured from <c>XGROUP CREATE</c> at 0 through
    /// <c>XREADGROUP COUNT 500</c> + one batched <c>XACK</c> per read until every entry is acknowledged.
    /// </summary>
    public async Task<TimeSpan> RawConsumeAsync(int events, CancellationToken cancellationToken)
    {
        var key = $"rawc:{Interlocked.Increment(ref _next)}";
        await TransportBench.WindowedAsync(events, () => _db.StreamAddAsync(key, "body", TransportBench.OrderJson), cancellationToken);
        TransportBench.CollectSetupGarbage();
        var started = Stopwatch.GetTimestamp();
        await _db.StreamCreateConsumerGroupAsync(key, "g", StreamPosition.Beginning);
        var read = 0;
        while (read < events)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var entries = await _db.StreamReadGroupAsync(key, "g", "bench", StreamPosition.NewMessages, 500);
            if (entries.Length == 0)
                continue;
            var ids = new RedisValue[entries.Length];
            for (var i = 0; i < entries.Length; i++)
                ids[i] = entries[i].Id;
            await _db.StreamAcknowledgeAsync(key, "g", ids);
            read += entries.Length;
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        await _db.KeyDeleteAsync(key);
        return elapsed;
    }

    /// <summary>
    /// The transport API alone: its stream filled beforehand; measured from <c>SubscribeAsync</c> (group at 0,
    /// <see cref="TransportBench.ConsumerConcurrency"/> in flight, <c>ReadBatchSize = 500</c>) through reading every delivery and
    /// acking it (<see cref="TransportBench.Window"/> acks awaited together) until the group has no pending entry left.
    /// </summary>
    public async Task<TimeSpan> TransportConsumeAsync(int events, CancellationToken cancellationToken)
    {
        var prefix = $"tc{Interlocked.Increment(ref _next)}:";
        var key = prefix + "stream:bench.orders.placed";
        await using var transport = await RedisTransport.ConnectAsync(new RedisTransportOptions { Configuration = Configuration, KeyPrefix = prefix, ConsumerName = "bench", ReadBatchSize = 500 }, cancellationToken: cancellationToken);
        await TransportBench.FillAsync(transport, events, cancellationToken);

        TimeSpan elapsed;
        TransportBench.CollectSetupGarbage();
        var started = Stopwatch.GetTimestamp();
        await using (var subscription = await transport.SubscribeAsync(new() { Group = "g", Patterns = ["bench.orders.placed"], MaxInFlight = TransportBench.ConsumerConcurrency }, cancellationToken))
        {
            await TransportBench.ReadAndAckAsync(subscription, events, cancellationToken);
            await TransportBench.WaitUntilAsync(async () => (await _db.StreamPendingAsync(key, "g")).PendingMessageCount == 0, cancellationToken);
            elapsed = Stopwatch.GetElapsedTime(started);
        }

        await _db.KeyDeleteAsync(key);
        return elapsed;
    }

    /// <summary>
    /// Busbar: the transport's stream filled with <paramref name="events"/> encoded events beforehand; measured from building
    /// a bus with <c>UseTransport</c> and subscribing a no-op handler until the group has no pending entry left (every
    /// delivery handled and acknowledged).
    /// </summary>
    /// <remarks>
    /// <c>UseTransport</c> over the transport that filled the stream, rather than <c>UseRedis</c> (which is <c>UseTransport</c>
    /// with a connect function), so that connecting is not timed: the raw row's connection is open before its clock starts too.
    /// </remarks>
    public async Task<TimeSpan> BusConsumeAsync(int events, CancellationToken cancellationToken)
    {
        var prefix = $"busc{Interlocked.Increment(ref _next)}:";
        var key = prefix + "stream:bench.orders.placed";
        await using var transport = await RedisTransport.ConnectAsync(new RedisTransportOptions { Configuration = Configuration, KeyPrefix = prefix, ConsumerName = "bench", ReadBatchSize = 500 }, cancellationToken: cancellationToken);
        await TransportBench.FillAsync(transport, events, cancellationToken);

        var handled = 0;
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        TransportBench.CollectSetupGarbage();
        var started = Stopwatch.GetTimestamp();
        var bus = new EventBusBuilder()
            .WithOptions(new EventBusOptions { Name = "bench-redis-consumer", MaxConcurrentEvents = TransportBench.ConsumerConcurrency })
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
            await TransportBench.WaitUntilAsync(async () => (await _db.StreamPendingAsync(key, "g")).PendingMessageCount == 0, cancellationToken);
            return Stopwatch.GetElapsedTime(started);
        }
        finally
        {
            await bus.StopAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
            await bus.DisposeAsync();
            await _db.KeyDeleteAsync(key);
        }
    }

    /// <summary>A latency row against <paramref name="configuration"/>: <c>raw</c> or <c>bus</c>.</summary>
    public static async Task<ILatencyRow> CreateLatencyRowAsync(string kind, string configuration, CancellationToken cancellationToken) => kind switch
    {
        "raw" => await RawLatency.StartAsync(configuration),
        "bus" => await BusLatency.StartAsync(configuration),
        _ => throw new ArgumentException($"unknown Redis latency row '{kind}' (raw or bus)", nameof(kind)),
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

    /// <summary>
    /// Raw latency: <c>XADD</c> on one connection; a consumer loop on its own connection blocks in
    /// <c>XREADGROUP … BLOCK 200</c> (a blocking read needs a connection of its own), records the arrival, then <c>XACK</c>s.
    /// </summary>
    private sealed class RawLatency : ILatencyRow
    {
        private readonly ConnectionMultiplexer _publisher;
        private readonly ConnectionMultiplexer _consumer;
        private readonly string _key = "latr:" + Guid.NewGuid().ToString("N");
        private readonly LatencyArrival _arrival = new();
        private readonly CancellationTokenSource _stop = new();
        private Task _loop = Task.CompletedTask;

        private RawLatency(ConnectionMultiplexer publisher, ConnectionMultiplexer consumer)
        {
            _publisher = publisher;
            _consumer = consumer;
        }

        public string Name => "Redis raw: XADD → XREADGROUP BLOCK loop (own connection)";

        public static async Task<RawLatency> StartAsync(string configuration)
        {
            var row = new RawLatency(await ConnectionMultiplexer.ConnectAsync(configuration), await ConnectionMultiplexer.ConnectAsync(configuration));
            await row._publisher.GetDatabase().StreamCreateConsumerGroupAsync(row._key, "g", StreamPosition.Beginning, createStream: true);
            using (ExecutionContext.SuppressFlow())
                row._loop = Task.Run(row.ConsumeAsync);
            return row;
        }

        public async Task<double> SampleAsync(long sequence, CancellationToken cancellationToken)
        {
            var arrived = _arrival.Expect(sequence);
            var published = Stopwatch.GetTimestamp();
            var body = JsonSerializer.SerializeToUtf8Bytes(new TransportLatencyPing(sequence, published), BenchTransportJson.Default.TransportLatencyPing);
            await _publisher.GetDatabase().StreamAddAsync(_key, "body", body).WaitAsync(cancellationToken);
            return TransportBench.Micros(published, await arrived.WaitAsync(cancellationToken));
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _loop;
            await _consumer.DisposeAsync();
            await _publisher.DisposeAsync();
            _stop.Dispose();
        }

        private async Task ConsumeAsync()
        {
            try
            {
                var db = _consumer.GetDatabase();
                while (!_stop.IsCancellationRequested)
                {
                    var reply = await db.ExecuteAsync("XREADGROUP", "GROUP", "g", "c", "COUNT", "100", "BLOCK", "200", "STREAMS", _key, ">");
                    if (reply.IsNull)
                        continue;
                    var ids = new List<RedisValue>();
                    foreach (var entry in Entries(reply))
                    {
                        var parts = (RedisResult[])entry!;
                        var fields = (RedisResult[])parts[1]!;
                        var ping = JsonSerializer.Deserialize((byte[])fields[1]!, BenchTransportJson.Default.TransportLatencyPing)!;
                        _arrival.Arrive(ping.Sequence, Stopwatch.GetTimestamp());
                        ids.Add((RedisValue)parts[0]);
                    }

                    if (ids.Count > 0)
                        await db.StreamAcknowledgeAsync(_key, "g", [.. ids]);
                }
            }
            catch (Exception ex) when (!_stop.IsCancellationRequested)
            {
                _arrival.Fail(ex);
            }
        }

        /// <summary>The entries of an <c>XREADGROUP</c> reply: RESP3 answers a map of stream → entries, RESP2 an array of [stream, entries].</summary>
        private static IEnumerable<RedisResult> Entries(RedisResult reply) =>
            reply.Resp3Type == ResultType.Map
                ? reply.ToDictionary().Values.SelectMany(entries => (RedisResult[])entries!)
                : ((RedisResult[])reply!).SelectMany(stream => (RedisResult[])((RedisResult[])stream!)[1]!);
    }

    /// <summary>
    /// Busbar latency: a publishing bus and a consuming bus (one handler) in this process, each with <c>UseRedis</c> (so its
    /// own connection); the handler records its entry time.
    /// </summary>
    private sealed class BusLatency : ILatencyRow
    {
        private readonly IEventBus _publisher;
        private readonly IEventBus _consumer;
        private readonly LatencyArrival _arrival = new();

        private BusLatency(string configuration)
        {
            var prefix = "latb" + Guid.NewGuid().ToString("N")[..8] + ":";
            _publisher = new EventBusBuilder()
                .WithOptions(new EventBusOptions { Name = "bench-latency-publisher" })
                .UseRedis(new RedisTransportOptions { Configuration = configuration, KeyPrefix = prefix, ConsumerName = "publisher" }, TransportBench.Registry(), new TransportBusOptions { Group = "publisher" })
                .Build();
            _consumer = new EventBusBuilder()
                .WithOptions(new EventBusOptions { Name = "bench-latency-consumer" })
                .UseRedis(new RedisTransportOptions { Configuration = configuration, KeyPrefix = prefix, ConsumerName = "consumer" }, TransportBench.Registry(), new TransportBusOptions { Group = "consumer" })
                .Build();
            var arrival = _arrival;
            _consumer.Subscribe<TransportLatencyPing>((ping, _, _) =>
            {
                arrival.Arrive(ping.Sequence, Stopwatch.GetTimestamp());
                return ValueTask.CompletedTask;
            });
        }

        public string Name => "Busbar bus.PublishAsync → Redis → handler (two buses)";

        public static Task<BusLatency> StartAsync(string configuration) => Task.FromResult(new BusLatency(configuration));

        public async Task<double> SampleAsync(long sequence, CancellationToken cancellationToken)
        {
            var arrived = _arrival.Expect(sequence);
            var published = Stopwatch.GetTimestamp();
            var handle = await _publisher.PublishAsync(new TransportLatencyPing(sequence, published), cancellationToken: cancellationToken);
            var outcome = await handle.WaitAsync(cancellationToken);
            if (!outcome.IsSuccess)
                throw new InvalidOperationException($"latency publish {sequence} ended {outcome.Status}");
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

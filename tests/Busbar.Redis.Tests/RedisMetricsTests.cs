using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Busbar.Transport;
using static Busbar.Redis.Tests.RedisTestSupport;

namespace Busbar.Redis.Tests;

public sealed class RedisMetricsTests(RedisServerFixture fixture) : IClassFixture<RedisServerFixture>
{
    [Fact]
    public async Task Counters_PublishDeliverAckDeadLetter_CountedOnTheTransportsMeter()
    {
        using var meters = new TestMeterFactory();
        using var listener = meters.Listen();
        var codec = Codec();
        await using var transport = await RedisTransport.ConnectAsync(Options(fixture.Server) with { KeyPrefix = "m" + Guid.NewGuid().ToString("N")[..8] + ":" }, meterFactory: meters);
        await using var subscription = await transport.SubscribeAsync(new TransportSubscriptionOptions { Group = "g", Patterns = ["*"] });
        await transport.PublishAsync(Enumerable.Range(1, 5).Select(codec.Placed).ToArray());

        await using var enumerator = subscription.ReadAllAsync().GetAsyncEnumerator();
        for (var i = 0; i < 5; i++)
        {
            Assert.True(await enumerator.MoveNextAsync().AsTask().WaitAsync(Patience));
            if (i == 0)
                await enumerator.Current.TerminateAsync("bad");
            else
                await enumerator.Current.AckAsync();
        }

        Assert.Equal(5, meters.Total("busbar.redis.published"));
        Assert.Equal(5, meters.Total("busbar.redis.delivered"));
        Assert.Equal(4, meters.Total("busbar.redis.acked"));
        Assert.Equal(1, meters.Total("busbar.redis.dead_lettered"));
        await Until(() => { listener.RecordObservableInstruments(); return meters.Last("busbar.redis.pending") == 0; }, "pending gauge reported");
    }

    /// <summary>An <see cref="IMeterFactory"/> whose meters only this test listens to (tests run in parallel).</summary>
    private sealed class TestMeterFactory : IMeterFactory
    {
        private readonly ConcurrentDictionary<string, long> _totals = new();
        private readonly ConcurrentDictionary<string, long> _last = new();
        private readonly List<Meter> _meters = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(options.Name, options.Version, options.Tags, scope: this);
            lock (_meters)
                _meters.Add(meter);
            return meter;
        }

        public MeterListener Listen()
        {
            var listener = new MeterListener
            {
                InstrumentPublished = (instrument, l) =>
                {
                    if (instrument.Meter.Scope == this)
                        l.EnableMeasurementEvents(instrument);
                },
            };
            listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
            {
                _totals.AddOrUpdate(instrument.Name, value, (_, total) => total + value);
                _last[instrument.Name] = value;
            });
            listener.Start();
            return listener;
        }

        public long Total(string name) => _totals.GetValueOrDefault(name);

        public long? Last(string name) => _last.TryGetValue(name, out var value) ? value : null;

        public void Dispose()
        {
            lock (_meters)
            {
                foreach (var meter in _meters)
                    meter.Dispose();
            }
        }
    }
}

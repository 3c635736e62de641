using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Busbar.Transport;
using static Busbar.Nats.Tests.NatsTestSupport;

namespace Busbar.Nats.Tests;

public sealed class NatsMetricsTests(NatsServerFixture fixture) : IClassFixture<NatsServerFixture>
{
    [Fact]
    public async Task Counters_PublishDuplicateDeliverRedeliverAckDeadLetter_CountedOnTheTransportsMeter()
    {
        using var meters = new TestMeterFactory();
        using var listener = meters.Listen();
        var codec = Codec();
        await using var transport = await NatsTransport.ConnectAsync(Options(fixture.Server, NewNamespace()), meterFactory: meters);
        await using var subscription = await transport.SubscribeAsync(new TransportSubscriptionOptions { Group = "g", Patterns = ["*"] });
        var messages = Enumerable.Range(1, 5).Select(codec.Placed).ToArray();
        await transport.PublishAsync(messages);
        await transport.PublishAsync([messages[0]]);

        await using var enumerator = subscription.ReadAllAsync().GetAsyncEnumerator();
        for (var i = 0; i < 6; i++)
        {
            Assert.True(await enumerator.MoveNextAsync().AsTask().WaitAsync(Patience));
            var delivery = enumerator.Current;
            if (codec.Number(delivery) == 1)
                await delivery.TerminateAsync("bad");
            else if (codec.Number(delivery) == 2 && delivery.DeliveryCount == 1)
                await delivery.RetryLaterAsync(TimeSpan.Zero);
            else
                await delivery.AckAsync();
        }

        Assert.Equal(5, meters.Total("busbar.nats.published"));
        Assert.Equal(1, meters.Total("busbar.nats.duplicates"));
        Assert.Equal(6, meters.Total("busbar.nats.delivered"));
        Assert.Equal(1, meters.Total("busbar.nats.redelivered"));
        Assert.Equal(4, meters.Total("busbar.nats.acked"));
        Assert.Equal(1, meters.Total("busbar.nats.dead_lettered"));
        await Until(() => { listener.RecordObservableInstruments(); return meters.Last("busbar.nats.consumer.pending") == 0; }, "pending gauge reported");
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

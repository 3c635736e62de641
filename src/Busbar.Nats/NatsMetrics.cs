using System.Diagnostics.Metrics;

namespace Busbar.Nats;

/// <summary>The transport's instruments on the <c>Busbar.Nats</c> meter.</summary>
internal sealed class NatsMetrics : IDisposable
{
    public const string MeterName = "Busbar.Nats";

    private readonly Meter _meter;

    public NatsMetrics(IMeterFactory? meterFactory, Func<IEnumerable<Measurement<long>>> pending, Func<IEnumerable<Measurement<long>>> redelivered)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        Published = _meter.CreateCounter<long>("busbar.nats.published", "{event}", "Messages stored by the stream (publish acknowledged).");
        Duplicates = _meter.CreateCounter<long>("busbar.nats.duplicates", "{event}", "Publishes the stream recognised by their Nats-Msg-Id and did not store again.");
        PublishRetries = _meter.CreateCounter<long>("busbar.nats.publish_retries", "{attempt}", "Publish attempts re-sent because the server did not answer (same Nats-Msg-Id).");
        Delivered = _meter.CreateCounter<long>("busbar.nats.delivered", "{event}", "Messages handed to this instance's consumers, first deliveries and redeliveries.");
        Redelivered = _meter.CreateCounter<long>("busbar.nats.redelivered", "{event}", "Deliveries with a delivery count above 1 (lease expired or retried later).");
        Acked = _meter.CreateCounter<long>("busbar.nats.acked", "{event}", "Deliveries acknowledged.");
        Skipped = _meter.CreateCounter<long>("busbar.nats.skipped", "{event}", "Messages acknowledged unhandled by a group's consumer because an earlier pattern of the group owns them (2.9 layout).");
        DeadLettered = _meter.CreateCounter<long>("busbar.nats.dead_lettered", "{event}", "Messages copied to the dead-letter stream and terminated.");
        _meter.CreateObservableGauge("busbar.nats.consumer.pending", pending, "{event}", "Messages of the stream a consumer has not delivered yet (read every StatusInterval).");
        _meter.CreateObservableGauge("busbar.nats.consumer.redelivered", redelivered, "{event}", "Messages a consumer has delivered more than once and not yet acknowledged (read every StatusInterval).");
    }

    public Counter<long> Published { get; }

    public Counter<long> Duplicates { get; }

    public Counter<long> PublishRetries { get; }

    public Counter<long> Delivered { get; }

    public Counter<long> Redelivered { get; }

    public Counter<long> Acked { get; }

    public Counter<long> Skipped { get; }

    public Counter<long> DeadLettered { get; }

    public void Dispose() => _meter.Dispose();
}

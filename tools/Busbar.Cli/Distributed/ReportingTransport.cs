using System.Runtime.CompilerServices;
using Busbar.Transport;

namespace Busbar.Cli.Distributed;

/// <summary>
/// The worker's transport as the bus sees it: the real one, with every delivery wrapped so the worker reports each step
/// (<see cref="WorkerLine"/>) just <em>before</em> the bus acts on the broker: <c>received</c> when the bus takes a delivery,
/// <c>handled</c> before its ack, <c>dead</c> before its terminate, <c>released</c> before it is given back. The bus decides;
/// this only watches, at the one boundary every outcome crosses. It also reports <c>ready</c> once the bus has joined the
/// group for every pattern the worker handles.
/// </summary>
internal sealed class ReportingTransport(IEventTransport inner, WorkerReporter report, IReadOnlyList<string> readyPatterns) : IEventTransport
{
    private readonly HashSet<string> _joined = [];

    public ValueTask PublishAsync(IReadOnlyList<TransportMessage> messages, CancellationToken cancellationToken = default) =>
        inner.PublishAsync(messages, cancellationToken);

    public async ValueTask<ITransportSubscription> SubscribeAsync(TransportSubscriptionOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var subscription = new Subscription(await inner.SubscribeAsync(options, cancellationToken), report);
        bool ready;
        lock (_joined)
        {
            var before = readyPatterns.All(_joined.Contains);
            _joined.UnionWith(options.Patterns);
            ready = !before && readyPatterns.All(_joined.Contains);
        }

        if (ready)
            report.Write(WorkerLine.Ready());
        return subscription;
    }

    public ValueTask<IReadOnlyList<TransportDeadLetter>> ReadDeadLettersAsync(int maxCount, CancellationToken cancellationToken = default) =>
        inner.ReadDeadLettersAsync(maxCount, cancellationToken);

    public ValueTask<bool> RedriveDeadLetterAsync(string id, CancellationToken cancellationToken = default) =>
        inner.RedriveDeadLetterAsync(id, cancellationToken);

    public IAsyncEnumerable<TransportMessage> TailAsync(IReadOnlyList<string> patterns, CancellationToken cancellationToken = default) =>
        inner.TailAsync(patterns, cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    private sealed class Subscription(ITransportSubscription inner, WorkerReporter report) : ITransportSubscription
    {
        public string Group => inner.Group;

        public IReadOnlyList<string> Patterns => inner.Patterns;

        public async IAsyncEnumerable<ITransportDelivery> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await foreach (var delivery in inner.ReadAllAsync(cancellationToken))
                yield return new Delivery(delivery, report);
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }

    private sealed class Delivery : ITransportDelivery
    {
        private readonly ITransportDelivery _inner;
        private readonly WorkerReporter _report;

        /// <summary>The event id from the envelope; null when the envelope is unreadable (the bus dead-letters it as undecodable).</summary>
        private readonly Guid? _eventId;

        public Delivery(ITransportDelivery inner, WorkerReporter report)
        {
            _inner = inner;
            _report = report;
            _eventId = EnvelopeCodec.ReadMetadata(inner.Envelope, out _, out _)?.EventId;
            if (_eventId is { } id)
                report.Write(WorkerLine.Received(id, inner.Name, inner.DeliveryCount));
        }

        public string DeliveryId => _inner.DeliveryId;

        public string Name => _inner.Name;

        public string Group => _inner.Group;

        public int DeliveryCount => _inner.DeliveryCount;

        public ReadOnlyMemory<byte> Envelope => _inner.Envelope;

        public ValueTask AckAsync(CancellationToken cancellationToken = default)
        {
            if (_eventId is { } id)
                _report.Write(WorkerLine.Handled(id, Name, DeliveryCount));
            return _inner.AckAsync(cancellationToken);
        }

        public ValueTask RetryLaterAsync(TimeSpan delay, CancellationToken cancellationToken = default)
        {
            if (_eventId is { } id)
                _report.Write(WorkerLine.Released(id, Name, DeliveryCount));
            return _inner.RetryLaterAsync(delay, cancellationToken);
        }

        public ValueTask TerminateAsync(string reason, CancellationToken cancellationToken = default)
        {
            _report.Write(_eventId is { } id ? WorkerLine.DeadLettered(id, Name, DeliveryCount, reason) : WorkerLine.Undecodable(DeliveryId, reason));
            return _inner.TerminateAsync(reason, cancellationToken);
        }

        public ValueTask ExtendLeaseAsync(CancellationToken cancellationToken = default) => _inner.ExtendLeaseAsync(cancellationToken);
    }
}

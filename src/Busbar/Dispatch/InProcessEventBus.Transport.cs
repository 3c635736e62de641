using Busbar.Diagnostics;
using Busbar.Transport;
using Microsoft.Extensions.Logging;

namespace Busbar.Dispatch;

/// <summary>
/// The transport: events not kept local are published to the broker instead of the local queue, and the group's deliveries
/// come back through the <see cref="TransportSource"/> to the same dispatcher. Without a transport, <see cref="_link"/> is null
/// and publishing pays that one check.
/// </summary>
internal sealed partial class InProcessEventBus
{
    /// <summary>The name of the one result a publish the broker refused carries: the broker's exception.</summary>
    internal const string TransportResultName = "(transport)";

    private TransportLink? _link;
    private TransportSettler? _transportSettler;

    /// <summary>The transport link, or null (tests, hosting).</summary>
    internal TransportLink? Link => _link;

    /// <summary>Connects the transport (in the background) and starts consuming; called once, by the builder.</summary>
    internal void AttachTransport(TransportSetup setup, ILoggerFactory? loggerFactory)
    {
        var codec = new EnvelopeCodec(setup.Events, setup.Options.Codec);
        _transportSettler = new TransportSettler(setup.Options, Metrics, Logger);
        var source = new TransportSource(_dispatcher, Router, codec, _transportSettler, TimeProvider, setup.Options.LeaseExtensionInterval, Logger, this, _stopToken);
        _link = new TransportLink(setup, Options, Name, Router, source, codec, TimeProvider, loggerFactory, Logger, EndTransportPublish);
        _link.Start();
    }

    /// <summary>
    /// Publishes an event to the broker. It takes a place in the publish window first (<see cref="EventBusOptions.FullMode"/>
    /// applies when the window is full; DropOldest drops the new event, since the ones already sent cannot be recalled); the
    /// returned handle completes when the broker accepted the event (Completed) or refused it (Failed).
    /// </summary>
    private ValueTask<EventHandle> PublishToTransport(EventContext context, CancellationToken cancellationToken)
    {
        var link = _link!;
        TransportMessage message;
        try
        {
            message = link.Encode(context);
        }
        catch (ArgumentException)
        {
            Refuse(context, EventStatus.Rejected);
            throw;
        }

        if (link.TryEnterWindow())
        {
            Send(link, context, message);
            return new ValueTask<EventHandle>(new EventHandle(context));
        }

        switch (Options.FullMode)
        {
            case BusFullMode.Wait:
                return PublishToTransportWhenRoomAsync(link, context, message, cancellationToken);
            case BusFullMode.DropNewest:
            case BusFullMode.DropOldest:
                Refuse(context, EventStatus.Dropped);
                return new ValueTask<EventHandle>(new EventHandle(context));
            default:
                Refuse(context, EventStatus.Rejected);
                throw new BusFullException($"Bus '{Name}' is full: {Options.Capacity} events are on their way to the broker; the event '{context.Name}' was rejected.");
        }
    }

    private async ValueTask<EventHandle> PublishToTransportWhenRoomAsync(TransportLink link, EventContext context, TransportMessage message, CancellationToken cancellationToken)
    {
        try
        {
            await link.EnterWindowAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or BusStoppedException)
        {
            Refuse(context, EventStatus.Rejected);
            throw;
        }

        Send(link, context, message);
        return new EventHandle(context);
    }

    /// <summary>Sends an event that holds a place in the window, or refuses it when the stop already waits for the publishes on their way.</summary>
    /// <exception cref="BusStoppedException">The stop began after this publish's stop check; the event ends as rejected.</exception>
    private void Send(TransportLink link, EventContext context, TransportMessage message)
    {
        if (link.TrySend(context, message))
            return;
        Refuse(context, EventStatus.Rejected);
        throw StoppedException();
    }

    /// <summary>
    /// Completes the handle of an event the broker answered: Completed, or Failed with the broker's exception in its outcome
    /// (one <see cref="HandlerResult"/> named <see cref="TransportResultName"/>, so <see cref="EventOutcome.ThrowIfFailed"/>
    /// rethrows it). Called by the link's sender loop.
    /// </summary>
    private void EndTransportPublish(EventContext context, Exception? error, TimeSpan elapsed)
    {
        if (!context.TryBeginComplete(error is null ? EventStatus.Completed : EventStatus.Failed))
            return;

        // The publish span ends (and a refusal is logged) before the handle completes: a publisher that awaited the handle
        // finds them done.
        if (error is null)
        {
            context.LinkToPublisher();
            BusTracing.EndPublish(context, null);
        }
        else
        {
            // Set while completing, before any awaiter can read the outcome; an event already ended otherwise keeps its own.
            context.Results = [new HandlerResult(TransportResultName, HandlerStatus.Failed, null, error, 1, elapsed)];
            context.UnlinkPublisher();
            BusTracing.EndPublishFailed(context, error);
            TransportLogMessages.PublishFailed(Logger, error, context.Name, context.EventId);
        }

        context.EndComplete();
    }

    /// <summary>
    /// A batch on a bus with a transport: each event is published as <see cref="PublishAsync{T}"/> would (to the broker, or
    /// to the local queue when kept local), in order. Unlike a local batch, the events before an invalid one are published.
    /// </summary>
    private async ValueTask<IReadOnlyList<EventHandle>> PublishEachAsync<T>(IEnumerable<T> events, PublishOptions? options, CancellationToken cancellationToken)
        where T : notnull
    {
        var handles = new List<EventHandle>();
        foreach (var e in events)
        {
            var context = CreateContext(e, options, queued: true);
            try
            {
                // A kept-local event on a durable bus is logged before it is admitted, as PublishAsync does.
                handles.Add(_link!.IsRemote(context.Name)
                    ? await PublishToTransport(context, cancellationToken).ConfigureAwait(false)
                    : _log is null
                        ? await Admit(context, cancellationToken).ConfigureAwait(false)
                        : await AdmitDurableAsync(context, cancellationToken).ConfigureAwait(false));
            }
            catch (BusFullException)
            {
                // One backpressure decision per event, as for local batches: the refused event's handle says so.
                handles.Add(new EventHandle(context));
            }
        }

        return handles;
    }

    /// <summary><see cref="TryPublish{T}"/> of an event that goes to the broker: sent when the publish window has room, else refused.</summary>
    private bool TryPublishToTransport(EventContext context)
    {
        var link = _link!;
        TransportMessage message;
        try
        {
            message = link.Encode(context);
        }
        catch (ArgumentException)
        {
            Refuse(context, EventStatus.Rejected);
            throw;
        }

        if (link.TryEnterWindow())
        {
            Send(link, context, message);
            return true;
        }

        Refuse(context, Options.FullMode is BusFullMode.DropNewest or BusFullMode.DropOldest ? EventStatus.Dropped : EventStatus.Rejected);
        return false;
    }
}

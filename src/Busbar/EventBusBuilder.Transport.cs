using Busbar.Dispatch;
using Busbar.Routing;
using Busbar.Transport;

namespace Busbar;

/// <summary>A transport: the bus publishes through a broker and consumes its group's events from it.</summary>
public sealed partial class EventBusBuilder
{
    private TransportSetup? _transport;
    private readonly List<TopicPattern> _localEvents = [];

    /// <summary>
    /// Publishes through <paramref name="transport"/> and consumes from it: every event not kept local
    /// (<see cref="KeepLocal{T}"/>) is encoded and published to the broker, and the bus's subscriptions receive the
    /// events of its group (<see cref="TransportBusOptions.Group"/>) from the broker, with the same tiers, timeouts,
    /// retries and outcomes as local events.
    /// </summary>
    /// <param name="transport">The transport; the caller owns it and disposes it after the bus (the bus never disposes it).</param>
    /// <param name="events">The event types that travel, with their JSON contracts; only these can be published or received.</param>
    /// <param name="options">Group, redelivery and lease extension; validated here. Default: <see cref="TransportBusOptions"/> defaults.</param>
    /// <returns>This builder.</returns>
    /// <remarks>
    /// <para>On a bus with a transport, <c>PublishAsync</c> returns once the event entered the publish window (at most
    /// <see cref="EventBusOptions.Capacity"/> events on their way to the broker; when it is full, <see cref="EventBusOptions.FullMode"/>
    /// applies), and awaiting the handle waits until the broker accepted the event: <see cref="EventStatus.Completed"/> means
    /// accepted, not handled, because the handlers may run in another process. A broker error ends it as <see cref="EventStatus.Failed"/>.</para>
    /// <para><c>SendAsync</c> and <c>InvokeAsync</c> stay in the process: they run the local handlers inline and never touch the broker.</para>
    /// <para>See docs/transports.md for the settle table (ack, retry later, dead letter) and the stop sequence.</para>
    /// </remarks>
    /// <exception cref="ArgumentException">An option is invalid; the message names it.</exception>
    public EventBusBuilder UseTransport(IEventTransport transport, EventTypeRegistry events, TransportBusOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(transport);
        return UseTransport((_, _) => new ValueTask<IEventTransport>(transport), events, options, ownsTransport: false);
    }

    /// <summary>
    /// Like <see cref="UseTransport(IEventTransport, EventTypeRegistry, TransportBusOptions?)"/>, but the bus connects the transport
    /// itself when it is built (in the background: <see cref="Build"/> does not wait) and disposes it when it is disposed.
    /// </summary>
    /// <param name="connect">Connects the transport; called once, with the bus's options, clock and logger factory.</param>
    /// <param name="events">The event types that travel, with their JSON contracts.</param>
    /// <param name="options">Group, redelivery and lease extension; validated here.</param>
    /// <returns>This builder.</returns>
    /// <remarks>
    /// Publishes made before the connection is up wait for it; if connecting fails, they fail with its exception, the error is
    /// logged, and the hosted service (<c>AddBusbar</c>) fails the host's start.
    /// </remarks>
    public EventBusBuilder UseTransport(Func<TransportConnectArguments, CancellationToken, ValueTask<IEventTransport>> connect, EventTypeRegistry events, TransportBusOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(connect);
        return UseTransport(connect, events, options, ownsTransport: true);
    }

    /// <summary>
    /// Keeps events of type <typeparamref name="T"/> (by their name) in the process on a bus with a transport: they are
    /// dispatched through the local queue as on a bus without one, and never published to the broker.
    /// </summary>
    /// <typeparam name="T">The event type; its name comes from <see cref="EventNameAttribute"/> or the type's name.</typeparam>
    /// <returns>This builder.</returns>
    public EventBusBuilder KeepLocal<T>() => KeepLocal(EventNaming.GetName(typeof(T)));

    /// <summary>Keeps the events whose names match <paramref name="pattern"/> in the process; see <see cref="KeepLocal{T}"/>.</summary>
    /// <param name="pattern">An event name or pattern (<c>*</c> one segment, trailing <c>**</c> one or more), e.g. <c>"ui.**"</c>.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentException">The pattern is invalid.</exception>
    public EventBusBuilder KeepLocal(string pattern)
    {
        _localEvents.Add(TopicPattern.Parse(pattern));
        return this;
    }

    private EventBusBuilder UseTransport(Func<TransportConnectArguments, CancellationToken, ValueTask<IEventTransport>> connect, EventTypeRegistry events, TransportBusOptions? options, bool ownsTransport)
    {
        ArgumentNullException.ThrowIfNull(events);
        options ??= new TransportBusOptions();
        options.Validate();
        if (_transport is not null)
            throw new InvalidOperationException("The bus already has a transport: call UseTransport (or UseRedis, UseNats) once.");
        _transport = new TransportSetup(connect, events, options, ownsTransport, _localEvents);
        return this;
    }
}

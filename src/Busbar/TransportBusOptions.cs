using Busbar.Transport;

namespace Busbar;

/// <summary>How a bus uses its transport (<see cref="EventBusBuilder.UseTransport(IEventTransport, EventTypeRegistry, TransportBusOptions?)"/>): its group, redelivery and lease extension.</summary>
public sealed record TransportBusOptions
{
    /// <summary>
    /// The group the bus consumes in: buses of one group share its events (competing consumers); every group receives every
    /// event it subscribes to.
    /// </summary>
    /// <value>
    /// Default: <see cref="EventBusOptions.Name"/> when set, else the entry assembly's name (the service), with characters other than
    /// letters, digits, '_', '-' and '.' replaced by '-'. So every instance of one service shares the work by default.
    /// </value>
    public string? Group { get; init; }

    /// <summary>How many deliveries of one event the bus makes before it terminates the event to the transport's dead letters.</summary>
    /// <value>
    /// Default <see langword="null"/>: the transport's own maximum applies (its dead letter then says only that the maximum was reached).
    /// <c>UseRedis</c> and <c>UseNats</c> set it from their transport options. At least 1.
    /// </value>
    /// <remarks>Set it equal to the transport's maximum: then the dead letter names the handler that failed and why.</remarks>
    public int? MaxDeliveries { get; init; }

    /// <summary>The delay before a failed delivery comes again; it doubles with every further delivery up to <see cref="MaxRetryDelay"/>.</summary>
    /// <value>Default 1 second. From zero to 1 day.</value>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest delay before a failed delivery comes again.</summary>
    /// <value>Default 1 minute. At least <see cref="RetryDelay"/>, at most 1 day. A transport may cap it further (Redis: at its lease).</value>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The longest a delivery the bus holds goes without its lease extended, counted from when the bus read it and then from its
    /// last extension, until its settlement begins: so no other consumer receives it while it waits or its handlers run.
    /// </summary>
    /// <value>Default 15 seconds (half the default lease of 30 seconds). <c>UseRedis</c> and <c>UseNats</c> set it to half their lease. From 10 ms to 1 day.</value>
    /// <remarks>Keep it below the transport's lease; a handler that outlives the lease without an extension is delivered to another consumer too.</remarks>
    public TimeSpan LeaseExtensionInterval { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Limits of the envelope the bus writes and reads.</summary>
    /// <value>Default: <see cref="EnvelopeCodecOptions"/> defaults (1 MiB).</value>
    public EnvelopeCodecOptions? Codec { get; init; }

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid option.</summary>
    internal void Validate()
    {
        if (Group is not null)
            new TransportSubscriptionOptions { Group = Group, Patterns = ["*"] }.Validate();
        if (MaxDeliveries is < 1)
            throw new ArgumentException($"{nameof(TransportBusOptions)}.{nameof(MaxDeliveries)} must be at least 1 (was {MaxDeliveries}).", nameof(MaxDeliveries));
        if (RetryDelay < TimeSpan.Zero || RetryDelay > TimeSpan.FromDays(1))
            throw new ArgumentException($"{nameof(TransportBusOptions)}.{nameof(RetryDelay)} must be from zero to 1 day (was {RetryDelay}).", nameof(RetryDelay));
        if (MaxRetryDelay < RetryDelay || MaxRetryDelay > TimeSpan.FromDays(1))
            throw new ArgumentException($"{nameof(TransportBusOptions)}.{nameof(MaxRetryDelay)} must be from {nameof(RetryDelay)} ({RetryDelay}) to 1 day (was {MaxRetryDelay}).", nameof(MaxRetryDelay));
        if (LeaseExtensionInterval < TimeSpan.FromMilliseconds(10) || LeaseExtensionInterval > TimeSpan.FromDays(1))
            throw new ArgumentException($"{nameof(TransportBusOptions)}.{nameof(LeaseExtensionInterval)} must be from 10 ms to 1 day (was {LeaseExtensionInterval}).", nameof(LeaseExtensionInterval));
        Codec?.Validate();
    }
}

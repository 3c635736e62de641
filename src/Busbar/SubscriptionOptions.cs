namespace Busbar;

/// <summary>Settings of one subscription.</summary>
public sealed record SubscriptionOptions
{
    /// <summary>A stable name: shown in outcomes, logs, metrics and dead letters.</summary>
    /// <value>Default <see langword="null"/>: a name is derived from the event type or pattern.</value>
    /// <remarks>Required on a bus with a write-ahead log, where the name is how recovery finds the subscription again after a restart.</remarks>
    public string? Name { get; init; }

    /// <summary>Handler tier: higher runs first for the same event.</summary>
    /// <value>Default 0.</value>
    public int Priority { get; init; }

    /// <summary>Per-attempt timeout, enforced through the handler's cancellation token.</summary>
    /// <value>Default <see langword="null"/>: the publish option, else the bus default.</value>
    public TimeSpan? HandlerTimeout { get; init; }

    /// <summary>Retries before the invocation goes to the dead-letter store.</summary>
    /// <value>Default <see langword="null"/>: one attempt, no retry.</value>
    public RetryPolicy? Retry { get; init; }

    /// <summary>Only events for which this returns <see langword="true"/> reach the handler (the others are <see cref="HandlerStatus.Skipped"/>).</summary>
    /// <value>Default <see langword="null"/>: every matching event.</value>
    /// <remarks>For a typed subscription, pass a typed filter instead: <c>bus.Subscribe&lt;OrderPlaced&gt;(handler, (order, context) =&gt; order.Total &gt; 0)</c>
    /// (the <c>Subscribe</c> overloads with a <c>filter</c> argument), which needs no cast. This property is for pattern subscriptions.</remarks>
    public Func<object, EventContext, bool>? Filter { get; init; }

    /// <summary>The subscription removes itself after its first invocation.</summary>
    /// <value>Default <see langword="false"/>.</value>
    public bool Once { get; init; }

    /// <summary>Marks a handler that blocks its thread; it runs on a dedicated thread instead of the thread pool.</summary>
    /// <value>Default <see langword="false"/>.</value>
    public bool Blocking { get; init; }

    internal void Validate()
    {
        if (Name is not null && string.IsNullOrWhiteSpace(Name))
            throw new ArgumentException("SubscriptionOptions.Name must not be empty or white space.", nameof(Name));
        if (HandlerTimeout is { } t && t <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(HandlerTimeout), t, $"SubscriptionOptions.HandlerTimeout must be positive (was {t}).");
        Retry?.Validate();
    }
}

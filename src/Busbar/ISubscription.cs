namespace Busbar;

/// <summary>A live subscription. Dispose it to unsubscribe; safe from any thread, including from inside a handler.</summary>
public interface ISubscription : IDisposable
{
    /// <summary>The subscription's name.</summary>
    string Name { get; }

    /// <summary>The pattern it matches, or <see langword="null"/> for a subscription by type.</summary>
    string? Pattern { get; }

    /// <summary>The event type it matches, or <see langword="null"/> for a pattern subscription.</summary>
    Type? EventType { get; }

    /// <summary><see langword="false"/> once disposed (or, for <see cref="SubscriptionOptions.Once"/>, after its invocation).</summary>
    bool IsActive { get; }
}

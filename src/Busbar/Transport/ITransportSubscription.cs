namespace Busbar.Transport;

/// <summary>One consumer's membership in a group: the deliveries it receives, at most <see cref="TransportSubscriptionOptions.MaxInFlight"/> unsettled at once.</summary>
/// <remarks>
/// Disposing stops receiving. Deliveries handed out and not settled are not lost: they come again to
/// another consumer of the group when their lease expires.
/// </remarks>
public interface ITransportSubscription : IAsyncDisposable
{
    /// <summary>The group this consumer competes in.</summary>
    string Group { get; }

    /// <summary>The name patterns the group receives.</summary>
    IReadOnlyList<string> Patterns { get; }

    /// <summary>
    /// The deliveries, in the order the broker hands them out. A new one is received only while fewer
    /// than <see cref="TransportSubscriptionOptions.MaxInFlight"/> are unsettled.
    /// </summary>
    /// <param name="cancellationToken">Ends the enumeration (with <see cref="OperationCanceledException"/>).</param>
    /// <remarks>Read by one reader at a time. The enumeration ends when the subscription is disposed.</remarks>
    IAsyncEnumerable<ITransportDelivery> ReadAllAsync(CancellationToken cancellationToken = default);
}

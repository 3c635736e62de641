namespace Busbar.Durability;

/// <summary>An event with durable subscriptions that have not finished with it.</summary>
/// <param name="Event">The event record; its <see cref="WalEventRecord.Subscriptions"/> may list more than are pending.</param>
/// <param name="PendingSubscriptions">The subscriptions to re-dispatch to.</param>
internal sealed record WalPendingEvent(WalEventRecord Event, IReadOnlyList<string> PendingSubscriptions);

namespace Busbar.Engine;

/// <summary>
/// Ends an event after <see cref="EventDispatcher.DispatchAsync"/> returned its status. The source that started
/// the dispatch chooses the settler, so what "finished" means never depends on flags read at the end.
/// </summary>
/// <remarks>
/// <para>
/// Local settlers (<c>Dispatch/LocalSettler.cs</c>) complete the handle, count the event out of flight,
/// add dead letters for the failed handlers in <see cref="EventContext.Results"/> and write the log's finish
/// record; they finish synchronously. A broker-delivery settler maps the same inputs to
/// <see cref="Transport.ITransportDelivery.AckAsync"/>, <see cref="Transport.ITransportDelivery.RetryLaterAsync"/>
/// or <see cref="Transport.ITransportDelivery.TerminateAsync"/>, which is why settling is asynchronous.
/// </para>
/// <para>Called once per dispatch, never concurrently for one event. It must not throw.</para>
/// </remarks>
internal interface IEventSettler
{
    /// <summary>Ends <paramref name="context"/> with <paramref name="status"/>.</summary>
    /// <param name="context">The event; <see cref="EventContext.Results"/> holds the handler results when there were failures.</param>
    /// <param name="status">What the dispatcher returned.</param>
    ValueTask SettleAsync(EventContext context, EventStatus status);
}

namespace Busbar.Engine;

/// <summary>Joins a dispatch to its source's settler without allocating when the handlers finished synchronously.</summary>
internal static class Settlement
{
    /// <summary>Settles the event with <paramref name="settler"/> once <paramref name="dispatch"/> has returned its status.</summary>
    /// <param name="dispatch">What <see cref="EventDispatcher.DispatchAsync"/> returned.</param>
    /// <param name="context">The event dispatched.</param>
    /// <param name="settler">The settler the source chose.</param>
    public static ValueTask SettleAfter(ValueTask<EventStatus> dispatch, EventContext context, IEventSettler settler) =>
        dispatch.IsCompletedSuccessfully
            ? settler.SettleAsync(context, dispatch.Result)
            : SettleLaterAsync(dispatch, context, settler);

    private static async ValueTask SettleLaterAsync(ValueTask<EventStatus> dispatch, EventContext context, IEventSettler settler)
    {
        var status = await dispatch.ConfigureAwait(false);
        await settler.SettleAsync(context, status).ConfigureAwait(false);
    }
}

using Busbar.Durability;
using Busbar.Engine;
using Busbar.Routing;

namespace Busbar.Dispatch;

/// <summary>
/// Runs a dead letter's event again on its subscription, outside the queue: what <see cref="DeadLetterStore"/> calls once it
/// took the letter out. The event is a copy of the dead letter's context with the next attempt number and no deadline (the
/// original one has usually long passed), routed to that one subscription, dispatched by the engine and ended by the
/// re-drive settler; on a durable bus, a subscription with a stable name gets its re-drive recorded in the log first, and
/// then the logged settler records its outcome.
/// </summary>
/// <param name="dispatcher">The engine.</param>
/// <param name="router">Stamps the route's version.</param>
/// <param name="settler">Ends a re-drive that has no record in the log (a failure becomes a dead letter again).</param>
/// <param name="recorder">Records the re-drive in the write-ahead log; <see langword="null"/> without a log.</param>
/// <param name="loggedSettler">Ends a re-drive that the log recorded; <see langword="null"/> without a log.</param>
/// <param name="recovery">Reads back a payload that a dead letter recovered from the log holds as JSON; <see langword="null"/> without a log.</param>
/// <param name="busName">The bus named in error messages.</param>
internal sealed class Redriver(
    EventDispatcher dispatcher,
    Router router,
    LocalSettler settler,
    WalRecorder? recorder,
    LocalSettler? loggedSettler,
    WalRecovery? recovery,
    string busName)
{
    /// <summary>Re-drives <paramref name="letter"/> on <paramref name="subscription"/> and returns the new outcome.</summary>
    /// <exception cref="InvalidOperationException">The letter's event type is not registered on the bus (its payload is still JSON).</exception>
    public async ValueTask<EventOutcome> RedriveAsync(DeadLetter letter, Subscription subscription, CancellationToken cancellationToken)
    {
        var source = letter.Context;
        var payload = recovery?.ReadPayload(source.Payload, source.Name) ?? source.Payload;
        if (payload is System.Text.Json.JsonElement)
            throw new InvalidOperationException($"Dead letter {letter.Id} holds an event '{source.Name}' whose type is not registered on bus '{busName}'; register it with EventBusBuilder.RegisterEvent<T>() to re-drive it.");

        // The copy keeps the letter's bus (EventContext.Bus): every letter is bound to the bus that holds it.
        var context = source.CloneForAttempt(source.Attempt + letter.Attempts, payload);
        context.Deadline = null;
        var end = settler;
        if (recorder is not null && subscription.HasStableName && await recorder.OnRedriveAsync(letter, context, subscription, cancellationToken).ConfigureAwait(false))
            end = loggedSettler!;
        context.Route = new Route([subscription], [0], router.Version);
        context.MarkRunning();
        var status = await dispatcher.DispatchAsync(context, context.Route, cancellationToken, null, recordResults: true).ConfigureAwait(false);
        end.Settle(context, status);
        return context.GetOutcome();
    }
}

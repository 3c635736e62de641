using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Busbar.Nats;

/// <summary>How a delivery ends: ack, retry later (NAK with delay), terminate into the dead letters, or a longer lease. Each gives the in-flight slot back.</summary>
/// <remarks>
/// Dead-lettering is two steps, not a transaction: publish the dead letter (with a message id made of the stream
/// sequence and the consumer, so a repeat is stored once), then terminate the original. A crash between them leaves the
/// original unacknowledged; it comes again after the lease and is dead-lettered again, and the dead-letter stream's
/// duplicate window absorbs the second copy.
/// </remarks>
internal sealed partial class NatsSubscription
{
    internal async ValueTask AckAsync(NatsDelivery delivery, CancellationToken cancellationToken)
    {
        try
        {
            await delivery.Message.AckAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            _context.Metrics.Acked.Add(1);
        }
        finally
        {
            Settled();
        }
    }

    internal async ValueTask RetryLaterAsync(NatsDelivery delivery, TimeSpan delay, CancellationToken cancellationToken)
    {
        if (delivery.DeliveryCount >= _context.Options.MaxDeliveries)
        {
            await TerminateAsync(delivery, $"MaxDeliveries: delivered {delivery.DeliveryCount} times, the maximum", cancellationToken).ConfigureAwait(false);
            return;
        }

        try
        {
            await delivery.Message.NakAsync(delay > TimeSpan.Zero ? new AckOpts { NakDelay = delay } : null, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Settled();
        }
    }

    internal async ValueTask TerminateAsync(NatsDelivery delivery, string reason, CancellationToken cancellationToken)
    {
        try
        {
            await DeadLetterAsync(delivery, reason, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Settled();
        }
    }

    /// <summary>A handed-out delivery ended: its slot is free again.</summary>
    private void Settled()
    {
        Interlocked.Decrement(ref _handedOut);
        _slots.Release();
    }

    internal ValueTask ExtendLeaseAsync(NatsDelivery delivery, CancellationToken cancellationToken) =>
        delivery.Message.AckProgressAsync(cancellationToken: cancellationToken);

    /// <summary>For messages the subscription dead-letters itself: on failure the message is given back (NAK) to be tried again.</summary>
    private async Task DeadLetterOrGiveBackAsync(NatsDelivery delivery, string reason)
    {
        try
        {
            await DeadLetterAsync(delivery, reason, _stop.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            NatsLog.DeadLetterFailed(_context.Logger, ex, delivery.DeliveryId, delivery.Name, Group);
            try
            {
                await delivery.Message.NakAsync(new AckOpts { NakDelay = TimeSpan.FromSeconds(1) }, _stop.Token).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Unreachable server: the lease expires and the message comes back anyway.
            }
        }
        finally
        {
            _slots.Release();
        }
    }

    private async Task DeadLetterAsync(NatsDelivery delivery, string reason, CancellationToken cancellationToken)
    {
        var letter = new NatsDeadLetter(Group, delivery.Name, delivery.Message.Subject, delivery.Sequence, delivery.DeliveryCount, reason, _context.Time.GetUtcNow(), delivery.Envelope.ToArray());
        var subject = NatsSubjects.Subject(_context.Options.DeadLetterSubjectPrefix, delivery.Name);
        var options = new NatsJSPubOpts { MsgId = $"{_context.Options.StreamName}.{delivery.Sequence}.{delivery.Consumer.Name}" };
        PubAckResponse ack;

        // Bounded: while disconnected the client may hold the request until it reconnects. On failure the original stays
        // unacknowledged and comes again after the lease.
        using (var limit = new CancellationTokenSource(_context.Options.RequestTimeout, _context.Time))
        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, limit.Token))
        {
            try
            {
                ack = await _context.JetStream.PublishAsync(subject, (ReadOnlyMemory<byte>)letter.Encode(), NatsContext.Raw, options, cancellationToken: linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"The dead letter of message {delivery.DeliveryId} of '{delivery.Name}' got no acknowledgement within {_context.Options.RequestTimeout}.", ex);
            }
        }

        if (!ack.Duplicate)
            ack.EnsureSuccess();
        await delivery.Message.AckTerminateAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        _context.Metrics.DeadLettered.Add(1);
        NatsLog.DeadLettered(_context.Logger, delivery.Name, delivery.DeliveryId, Group, delivery.DeliveryCount, reason);
    }
}

using StackExchange.Redis;

namespace Busbar.Redis;

/// <summary>How a delivery ends: ack, retry later, terminate, or a longer lease. Each gives the in-flight slot back.</summary>
/// <remarks>
/// Redis 7.0 has no delayed redelivery and no XNACK (8.8). A retry keeps the entry pending and back-dates its idle
/// time with <c>XCLAIM … IDLE (lease − delay) JUSTID</c> (no count increment), so the janitor claims it once
/// <c>delay</c> has passed; the delay is therefore capped at the lease. A lease extension is <c>XCLAIM … 0 … JUSTID</c>,
/// which restarts the idle time.
/// </remarks>
internal sealed partial class RedisSubscription
{
    /// <summary>
    /// Hands the id to its stream's <see cref="AckBatcher"/> (kept on the stream, so no lookup per ack); completes when the
    /// <c>XACK</c> that carried it was answered. The slot, the metric and a <c>NOGROUP</c> answer are dealt with once per
    /// <c>XACK</c> (<see cref="AcksAnswered"/>).
    /// </summary>
    internal ValueTask AckAsync(RedisDelivery delivery)
    {
        Interlocked.Increment(ref _acksOnTheirWay);
        try
        {
            var stream = delivery.Stream;
            var batcher = Volatile.Read(ref stream.Acks) ?? CreateAckBatcher(stream);
            return new ValueTask(batcher.AckAsync(delivery.EntryId));
        }
        catch
        {
            FreeAckSlots(1);
            throw;
        }
    }

    /// <summary>The stream's first ack: one batcher per stream, whichever ack gets there first.</summary>
    private AckBatcher CreateAckBatcher(StreamRef stream)
    {
        var name = stream.Name;
        var created = new AckBatcher(_context.Database, stream.Key, _group, (ids, error) => AcksAnswered(name, ids, error));
        return Interlocked.CompareExchange(ref stream.Acks, created, null) ?? created;
    }

    /// <summary>One <c>XACK</c> answered: its slots are free and it is counted; a <c>NOGROUP</c> answer is logged and is no error for the callers.</summary>
    private Exception? AcksAnswered(string name, IReadOnlyList<RedisValue> ids, Exception? error)
    {
        FreeAckSlots(ids.Count);
        if (error is null)
        {
            _context.Metrics.Acked.Add(ids.Count);
            return null;
        }

        if (error is RedisServerException server && RedisContext.IsNoGroup(server))
        {
            foreach (var id in ids)
                RedisLog.SettleNoGroup(_context.Logger, id.ToString(), name, Group);
            return null;
        }

        return error;
    }

    /// <summary>Acks no longer on their way give their slots back, in this order, so a reader woken by the slots sees no ack it would wait for.</summary>
    private void FreeAckSlots(int count)
    {
        Interlocked.Add(ref _acksOnTheirWay, -count);
        _slots.Release(count);
    }

    internal async ValueTask RetryLaterAsync(RedisDelivery delivery, TimeSpan delay)
    {
        try
        {
            if (delivery.DeliveryCount >= _context.Options.MaxDeliveries)
            {
                await DeadLetterAsync(delivery.Stream, delivery.DeliveryId, delivery.DeliveryCount, delivery.Envelope, $"MaxDeliveries: delivered {delivery.DeliveryCount} times, the maximum").ConfigureAwait(false);
                return;
            }

            var lease = _context.LeaseMilliseconds;
            var idle = lease - Math.Min(lease, (long)delay.TotalMilliseconds);
            await _context.Database.ExecuteAsync("XCLAIM", delivery.Stream.Key, _group, _context.ConsumerName, 0, delivery.DeliveryId, "IDLE", idle, "JUSTID").ConfigureAwait(false);
            if (idle >= lease)
                _janitorWake.Set();
        }
        catch (RedisServerException ex) when (RedisContext.IsNoGroup(ex))
        {
            RedisLog.SettleNoGroup(_context.Logger, delivery.DeliveryId, delivery.Name, Group);
        }
        finally
        {
            _slots.Release();
        }
    }

    internal async ValueTask TerminateAsync(RedisDelivery delivery, string reason)
    {
        try
        {
            await DeadLetterAsync(delivery.Stream, delivery.DeliveryId, delivery.DeliveryCount, delivery.Envelope, reason).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (RedisContext.IsNoGroup(ex))
        {
            RedisLog.SettleNoGroup(_context.Logger, delivery.DeliveryId, delivery.Name, Group);
        }
        finally
        {
            _slots.Release();
        }
    }

    internal async ValueTask ExtendLeaseAsync(RedisDelivery delivery) =>
        await _context.Database.ExecuteAsync("XCLAIM", delivery.Stream.Key, _group, _context.ConsumerName, 0, delivery.DeliveryId, "JUSTID").ConfigureAwait(false);

    /// <summary>
    /// Writes the dead letter, then acknowledges the entry. Two commands, not a transaction (the keys may live in
    /// different cluster slots): a crash between them leaves the entry pending, and it is dead-lettered again later.
    /// </summary>
    private async Task DeadLetterAsync(StreamRef stream, string entryId, int deliveries, ReadOnlyMemory<byte>? envelope, string reason)
    {
        RedisValue body;
        if (envelope is { } known)
        {
            body = known;
        }
        else
        {
            var entries = await _context.Database.StreamRangeAsync(stream.Key, entryId, entryId, 1).ConfigureAwait(false);
            body = entries.Length == 1 && !entries[0].IsNull ? entries[0][RedisKeys.EnvelopeField] : RedisValue.Null;
        }

        var fields = RedisDeadLetters.Entry(Group, stream.Name, entryId, deliveries, reason, _context.Time.GetUtcNow(), body);
        await _context.Database.StreamAddAsync(_context.Keys.DeadLetters, fields).ConfigureAwait(false);
        await _context.Database.StreamAcknowledgeAsync(stream.Key, _group, entryId).ConfigureAwait(false);
        _context.Metrics.DeadLettered.Add(1);
        RedisLog.DeadLettered(_context.Logger, stream.Name, entryId, Group, deliveries, reason);
    }
}

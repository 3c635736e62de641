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
    // One per stream: acks settled while an XACK is on its way share the next one.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<RedisKey, AckBatcher> _ackBatchers = new();

    internal async ValueTask AckAsync(RedisDelivery delivery)
    {
        Task acked;
        try
        {
            Interlocked.Increment(ref _acksOnTheirWay);
            var batcher = _ackBatchers.GetOrAdd(delivery.Stream.Key, static (key, self) => new AckBatcher(self._context.Database, key, self._group, self.AcksAnswered), this);
            acked = batcher.AckAsync(delivery.DeliveryId);
        }
        catch
        {
            AcksAnswered(1);
            throw;
        }

        // The batcher gives the slot back when the XACK carrying this id was answered, together with its batch's.
        try
        {
            await acked.ConfigureAwait(false);
            _context.Metrics.Acked.Add(1);
        }
        catch (RedisServerException ex) when (RedisContext.IsNoGroup(ex))
        {
            RedisLog.SettleNoGroup(_context.Logger, delivery.DeliveryId, delivery.Name, Group);
        }
    }

    /// <summary>Acks answered (or failed): no longer on their way, and their slots are free. In this order, so a reader woken by the slots sees no ack it would wait for.</summary>
    private void AcksAnswered(int count)
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

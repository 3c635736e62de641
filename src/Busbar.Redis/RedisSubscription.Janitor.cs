using StackExchange.Redis;

namespace Busbar.Redis;

/// <summary>
/// The janitor of one group on one instance. Leader-less: every instance runs one per subscription, and claims are
/// gated by idle time, so two janitors never take the same entry. Per stream and round:
/// dead-letter entries past the maximum deliveries, claim entries idle past the lease (expired leases and due
/// retries), trim what every group has acknowledged, and enforce the hard cap.
/// </summary>
/// <remarks>
/// Redis 7.0 has no XREADGROUP CLAIM (8.4) and XAUTOCLAIM does not return delivery counts, so the janitor pages the
/// PEL with <c>XPENDING … IDLE lease</c> (counts included) and takes entries with <c>XCLAIM … min-idle</c>, which does
/// what XAUTOCLAIM does and also drops entries trimmed while pending from the PEL (7.0).
/// </remarks>
internal sealed partial class RedisSubscription
{
    private const int PendingPage = 100;
    private const int MaxPagesPerRound = 10;

    private long _janitorRounds;

    /// <summary>How many janitor rounds finished (every stream visited once); tests wait on it instead of on time.</summary>
    internal long JanitorRounds => Interlocked.Read(ref _janitorRounds);

    private async Task JanitorLoopAsync()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                await _janitorWake.WaitAsync(_context.Options.JanitorInterval, token).ConfigureAwait(false);
                foreach (var stream in Volatile.Read(ref _snapshot))
                {
                    token.ThrowIfCancellationRequested();
                    try
                    {
                        await ClaimExpiredAsync(stream, token).ConfigureAwait(false);
                        await TrimAsync(stream).ConfigureAwait(false);
                    }
                    catch (RedisServerException ex) when (RedisContext.IsNoGroup(ex))
                    {
                        await RecreateGroupsAsync([stream]).ConfigureAwait(false);
                    }
                }

                Interlocked.Increment(ref _janitorRounds);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                RedisLog.JanitorFailed(_context.Logger, ex, Group);
            }
        }
    }

    private async Task ClaimExpiredAsync(StreamRef stream, CancellationToken token)
    {
        var db = _context.Database;
        RedisValue from = "-";
        for (var page = 0; page < MaxPagesPerRound; page++)
        {
            var pending = await db.StreamPendingMessagesAsync(stream.Key, _group, PendingPage, RedisValue.Null, from, "+", _context.LeaseMilliseconds).ConfigureAwait(false);
            if (pending.Length == 0)
                return;

            var claimable = new List<StreamPendingMessageInfo>(pending.Length);
            foreach (var info in pending)
            {
                if (info.DeliveryCount >= _context.Options.MaxDeliveries)
                {
                    // Take it first (idle-gated), so only one janitor writes the dead letter.
                    var owned = await db.StreamClaimIdsOnlyAsync(stream.Key, _group, _context.ConsumerName, _context.LeaseMilliseconds, [info.MessageId]).ConfigureAwait(false);
                    if (owned.Length == 1)
                        await DeadLetterAsync(stream, info.MessageId!, info.DeliveryCount, envelope: null, $"MaxDeliveries: delivered {info.DeliveryCount} times, the maximum").ConfigureAwait(false);
                }
                else
                {
                    claimable.Add(info);
                }
            }

            var room = 0;
            while (room < claimable.Count && _slots.Wait(0, CancellationToken.None))
                room++;
            var delivered = 0;
            try
            {
                if (room > 0)
                {
                    var ids = new RedisValue[room];
                    for (var i = 0; i < room; i++)
                        ids[i] = claimable[i].MessageId;

                    // XCLAIM (not JUSTID) increments the delivery counter; it returns only what was still idle past the lease.
                    var entries = await db.StreamClaimAsync(stream.Key, _group, _context.ConsumerName, _context.LeaseMilliseconds, ids).ConfigureAwait(false);
                    foreach (var entry in entries)
                    {
                        if (entry.IsNull)
                            continue;
                        var previous = claimable.First(c => c.MessageId == entry.Id).DeliveryCount;
                        Deliver(stream, entry, previous + 1);
                        _context.Metrics.Delivered.Add(1);
                        _context.Metrics.Redelivered.Add(1);
                        delivered++;
                    }
                }
            }
            finally
            {
                if (room > delivered)
                    _slots.Release(room - delivered);
            }

            if (pending.Length < PendingPage || token.IsCancellationRequested)
                return;
            from = "(" + pending[^1].MessageId;
        }
    }

    /// <summary>
    /// Trims below the oldest entry some group still needs (its oldest pending entry, or past its last delivered id) and
    /// older than the retention; then, if a hard cap is set and still exceeded, trims to it and counts the loss.
    /// </summary>
    private async Task TrimAsync(StreamRef stream)
    {
        var db = _context.Database;
        var groups = await db.StreamGroupInfoAsync(stream.Key).ConfigureAwait(false);
        if (groups.Length == 0)
            return;
        StreamId? safe = null;
        foreach (var group in groups)
        {
            if (group.Name == Group)
                _context.Metrics.RecordGroup(Group, stream.Name, group.PendingMessageCount, group.Lag);
            StreamId needed;
            if (group.PendingMessageCount > 0)
            {
                var summary = await db.StreamPendingAsync(stream.Key, group.Name).ConfigureAwait(false);
                if (!StreamId.TryParse(summary.LowestPendingMessageId, out needed))
                    return;
            }
            else if (!StreamId.TryParse(group.LastDeliveredId, out needed))
            {
                return;
            }

            safe = safe is { } s ? StreamId.Min(s, needed) : needed;
        }

        var now = (ulong)_context.Time.GetUtcNow().ToUnixTimeMilliseconds();
        var retentionMs = (ulong)_context.Options.Retention.TotalMilliseconds;
        var retained = new StreamId(now > retentionMs ? now - retentionMs : 0, 0);
        var threshold = StreamId.Min(safe!.Value, retained);
        if (threshold.CompareTo(StreamId.Zero) > 0)
            await db.StreamTrimByMinIdAsync(stream.Key, threshold.ToString(), useApproximateMaxLength: false, limit: null).ConfigureAwait(false);

        if (_context.Options.MaxStreamLength is not { } cap)
            return;
        var length = await db.StreamLengthAsync(stream.Key).ConfigureAwait(false);
        if (length <= cap)
            return;

        // Acknowledged history goes first: the retention is a convenience, the cap a guard.
        await db.StreamTrimByMinIdAsync(stream.Key, safe.Value.ToString(), useApproximateMaxLength: false, limit: null).ConfigureAwait(false);
        length = await db.StreamLengthAsync(stream.Key).ConfigureAwait(false);
        if (length <= cap)
            return;
        var lost = await db.StreamTrimAsync(stream.Key, cap, useApproximateMaxLength: false).ConfigureAwait(false);
        if (lost > 0)
            _context.LostEntriesToCap(stream.Name, lost);
    }
}

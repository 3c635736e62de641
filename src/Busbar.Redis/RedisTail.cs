using System.Runtime.CompilerServices;
using Busbar.Transport;
using StackExchange.Redis;

namespace Busbar.Redis;

/// <summary>
/// A tail: plain <c>XREAD</c> (no consumer group) of every stream whose name matches, from each stream's last entry at the
/// start (a stream that appears later from its beginning), woken by the doorbell with the fallback poll as a bound.
/// Reads each stream alone, so no read spans cluster slots.
/// </summary>
internal sealed class RedisTail(RedisContext context, EventNamePattern[] patterns)
{
    private readonly Signal _wake = new();
    private readonly Dictionary<string, RedisValue> _positions = new(StringComparer.Ordinal);

    public void Ring() => _wake.Set();

    /// <summary>Records where each matching stream ends now, so the tail starts after it.</summary>
    public async Task StartAsync()
    {
        foreach (var name in await MatchingNamesAsync().ConfigureAwait(false))
        {
            var last = await context.Database.StreamRangeAsync(context.Keys.Stream(name), "-", "+", 1, Order.Descending).ConfigureAwait(false);
            _positions[name] = last.Length > 0 ? last[0].Id : "0-0";
        }
    }

    public async IAsyncEnumerable<TransportMessage> ReadAsync(Task started, CancellationTokenSource end)
    {
        try
        {
            await foreach (var message in ReadAsync(started, end.Token).ConfigureAwait(false))
                yield return message;
        }
        finally
        {
            await end.CancelAsync().ConfigureAwait(false);
            end.Dispose();
        }
    }

    private async IAsyncEnumerable<TransportMessage> ReadAsync(Task started, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await started.ConfigureAwait(false);
        while (!cancellationToken.IsCancellationRequested)
        {
            var got = 0;
            foreach (var (name, entries) in await ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                foreach (var entry in entries)
                {
                    _positions[name] = entry.Id;
                    got++;
                    yield return new TransportMessage(Guid.Empty, name, (byte[]?)entry[RedisKeys.EnvelopeField] ?? []);
                }
            }

            if (got > 0)
                continue;
            try
            {
                await _wake.WaitAsync(context.Options.FallbackPollInterval, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                yield break;
            }
        }
    }

    /// <summary>
    /// One round of reads. A failed read (the connection is down; the multiplexer reconnects by itself) returns what
    /// was read so far: the positions are kept, so the next round resumes where this one stopped and nothing is skipped.
    /// </summary>
    private async Task<List<(string Name, StreamEntry[] Entries)>> ReadAsync(CancellationToken cancellationToken)
    {
        var read = new List<(string, StreamEntry[])>();
        try
        {
            foreach (var name in await MatchingNamesAsync().ConfigureAwait(false))
                _positions.TryAdd(name, "0-0");
            foreach (var (name, position) in _positions)
            {
                var entries = await context.Database.StreamReadAsync(context.Keys.Stream(name), position, context.Options.ReadBatchSize)
                    .WaitAsync(cancellationToken).ConfigureAwait(false);
                if (entries.Length > 0)
                    read.Add((name, entries));
            }
        }
        catch (RedisException ex)
        {
            RedisLog.ReadFailed(context.Logger, ex, "(tail)", context.Options.FallbackPollInterval.TotalMilliseconds);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The tail ends: the caller's loop sees the token.
        }

        return read;
    }

    private async Task<List<string>> MatchingNamesAsync()
    {
        var members = await context.Database.SetMembersAsync(context.Keys.Names).ConfigureAwait(false);
        var names = new List<string>();
        foreach (var member in members)
        {
            var name = (string?)member;
            if (RedisKeys.IsValidName(name) && Matches(name!))
                names.Add(name!);
        }

        return names;
    }

    private bool Matches(string name)
    {
        foreach (var pattern in patterns)
        {
            if (pattern.Matches(name))
                return true;
        }

        return false;
    }
}

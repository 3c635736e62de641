using StackExchange.Redis;

namespace Busbar.Redis;

/// <summary>
/// Acknowledges one stream's entries for one group with as few <c>XACK</c>s as possible: at most one is on its way,
/// and the ids settled meanwhile go out together in the next, one command for many entries. Each caller completes when
/// the reply that covers its own id arrived, so an awaited ack still means "the server removed it from the pending list".
/// </summary>
internal sealed class AckBatcher(IDatabase database, RedisKey stream, RedisValue group)
{
    private readonly object _lock = new();
    private List<(RedisValue Id, TaskCompletionSource Done)> _waiting = [];
    private List<(RedisValue Id, TaskCompletionSource Done)> _spare = [];
    private bool _sending;

    /// <summary>Acknowledges <paramref name="id"/>; completes when the XACK that carried it was answered (or failed with its error).</summary>
    public Task AckAsync(RedisValue id)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            _waiting.Add((id, done));
            if (_sending)
                return done.Task;
            _sending = true;
        }

        _ = SendAsync();
        return done.Task;
    }

    private async Task SendAsync()
    {
        while (true)
        {
            List<(RedisValue Id, TaskCompletionSource Done)> batch;
            lock (_lock)
            {
                if (_waiting.Count == 0)
                {
                    _sending = false;
                    return;
                }

                batch = _waiting;
                _waiting = _spare;
                _spare = [];
            }

            var ids = new RedisValue[batch.Count];
            for (var i = 0; i < ids.Length; i++)
                ids[i] = batch[i].Id;
            try
            {
                await database.StreamAcknowledgeAsync(stream, group, ids).ConfigureAwait(false);
                foreach (var (_, done) in batch)
                    done.TrySetResult();
            }
            catch (Exception ex)
            {
                foreach (var (_, done) in batch)
                    done.TrySetException(ex);
            }

            batch.Clear();
            lock (_lock)
                _spare = batch;
        }
    }
}

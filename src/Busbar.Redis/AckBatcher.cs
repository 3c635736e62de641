using StackExchange.Redis;

namespace Busbar.Redis;

/// <summary>
/// Acknowledges one stream's entries for one group with as few <c>XACK</c>s as possible: at most one is on its way,
/// and the ids settled meanwhile go out together in the next, one command for many entries. Each caller completes when
/// the reply that covers its own id arrived, so an awaited ack still means "the server removed it from the pending list".
/// </summary>
/// <remarks>
/// The ids of one <c>XACK</c> share one task, completed on one thread-pool item (the callers resume there one after the
/// other, never on the sending loop), and their in-flight slots are given back together (<paramref name="answered"/>)
/// as soon as the reply arrived, before any caller resumes: the reader then finds the whole batch's room
/// free at once and reads as much in one <c>XREADGROUP</c>, rather than one entry per ack that happened to finish first.
/// </remarks>
/// <param name="database">The connection's database.</param>
/// <param name="stream">The stream key.</param>
/// <param name="group">The group.</param>
/// <param name="answered">Called once per <c>XACK</c> reply (or failure) with the ids it carried and the error; returns the
/// error the callers see (null: they complete as acknowledged).</param>
internal sealed class AckBatcher(IDatabase database, RedisKey stream, RedisValue group, Func<IReadOnlyList<RedisValue>, Exception?, Exception?> answered)
{
    private readonly object _lock = new();
    private List<RedisValue> _waiting = [];
    private List<RedisValue> _spare = [];
    private TaskCompletionSource _next = new();
    private bool _sending;

    /// <summary>
    /// Acknowledges <paramref name="id"/>; completes when the XACK that carried it was answered (or failed with its error).
    /// The id's slot is given back through <c>answered</c> either way.
    /// </summary>
    public Task AckAsync(RedisValue id)
    {
        Task done;
        lock (_lock)
        {
            _waiting.Add(id);
            done = _next.Task;
            if (_sending)
                return done;
            _sending = true;
        }

        _ = SendAsync();
        return done;
    }

    private async Task SendAsync()
    {
        while (true)
        {
            List<RedisValue> batch;
            TaskCompletionSource done;
            lock (_lock)
            {
                if (_waiting.Count == 0)
                {
                    _sending = false;
                    return;
                }

                batch = _waiting;
                done = _next;
                _waiting = _spare;
                _spare = [];
                _next = new TaskCompletionSource();
            }

            Exception? error = null;
            try
            {
                await database.StreamAcknowledgeAsync(stream, group, [.. batch]).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                error = ex;
            }

            error = answered(batch, error);

            // The callers resume on one thread-pool item for the whole batch, not one each, and never on this loop.
            ThreadPool.UnsafeQueueUserWorkItem(static state =>
            {
                if (state.Error is null)
                    state.Done.TrySetResult();
                else
                    state.Done.TrySetException(state.Error);
            }, (Done: done, Error: error), preferLocal: false);

            batch.Clear();
            lock (_lock)
                _spare = batch;
        }
    }
}

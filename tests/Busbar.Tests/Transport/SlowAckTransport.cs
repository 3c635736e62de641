using System.Collections.Concurrent;
using Busbar.Transport;

namespace Busbar.Tests.Transport;

/// <summary>
/// A broker that answers publishes only when the test says so: each publish waits in <see cref="Waiting"/> until
/// <see cref="Answer"/> lets it through (to the inner transport) or fails it. Records the most publishes that were waiting at
/// once, what reached the broker, and what failed, so window tests can prove the bound and the accounting.
/// </summary>
internal sealed class SlowAckTransport(IEventTransport inner) : IEventTransport
{
    private readonly ConcurrentQueue<(IReadOnlyList<TransportMessage> Messages, TaskCompletionSource<bool> Answer)> _waiting = new();
    private int _inFlight;
    private int _maxInFlight;
    private volatile bool _open;

    /// <summary>Messages the broker stored.</summary>
    public ConcurrentQueue<TransportMessage> Stored { get; } = new();

    /// <summary>Messages whose publish the broker refused.</summary>
    public ConcurrentQueue<TransportMessage> Refused { get; } = new();

    /// <summary>Publishes waiting for their answer.</summary>
    public int Waiting => _waiting.Count;

    /// <summary>The most messages that were on their way at once.</summary>
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    /// <summary>Lets up to <paramref name="count"/> waiting publishes through; <paramref name="fail"/> decides, per publish, whether the broker refuses it.</summary>
    public int Answer(int count, Func<bool>? fail = null)
    {
        var answered = 0;
        while (answered < count && _waiting.TryDequeue(out var waiting))
        {
            waiting.Answer.TrySetResult(fail?.Invoke() ?? false);
            answered++;
        }

        return answered;
    }

    /// <summary>From now on every publish is answered at once, and those waiting are let through.</summary>
    public void Open()
    {
        _open = true;
        Answer(int.MaxValue);
    }

    public async ValueTask PublishAsync(IReadOnlyList<TransportMessage> messages, CancellationToken cancellationToken = default)
    {
        var now = Interlocked.Add(ref _inFlight, messages.Count);
        int max;
        while (now > (max = Volatile.Read(ref _maxInFlight)) && Interlocked.CompareExchange(ref _maxInFlight, now, max) != max)
        {
        }

        try
        {
            var fail = false;
            if (!_open)
            {
                var answer = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiting.Enqueue((messages, answer));
                if (_open)
                    Answer(int.MaxValue);
                fail = await answer.Task.WaitAsync(cancellationToken);
            }

            if (fail)
            {
                foreach (var message in messages)
                    Refused.Enqueue(message);
                throw new InvalidOperationException("The broker refused the publish.");
            }

            await inner.PublishAsync(messages, cancellationToken);
            foreach (var message in messages)
                Stored.Enqueue(message);
        }
        finally
        {
            Interlocked.Add(ref _inFlight, -messages.Count);
        }
    }

    public ValueTask<ITransportSubscription> SubscribeAsync(TransportSubscriptionOptions options, CancellationToken cancellationToken = default) =>
        inner.SubscribeAsync(options, cancellationToken);

    public ValueTask<IReadOnlyList<TransportDeadLetter>> ReadDeadLettersAsync(int maxCount, CancellationToken cancellationToken = default) =>
        inner.ReadDeadLettersAsync(maxCount, cancellationToken);

    public ValueTask<bool> RedriveDeadLetterAsync(string id, CancellationToken cancellationToken = default) =>
        inner.RedriveDeadLetterAsync(id, cancellationToken);

    public IAsyncEnumerable<TransportMessage> TailAsync(IReadOnlyList<string> patterns, CancellationToken cancellationToken = default) =>
        inner.TailAsync(patterns, cancellationToken);

    public ValueTask DisposeAsync()
    {
        Open();
        return inner.DisposeAsync();
    }
}

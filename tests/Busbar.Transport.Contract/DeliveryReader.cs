namespace Busbar.Transport.Contract;

/// <summary>Reads one subscription's deliveries one at a time, each read bounded by a timeout, so a hang fails the test.</summary>
public sealed class DeliveryReader : IAsyncDisposable
{
    private readonly IAsyncEnumerator<ITransportDelivery> _enumerator;
    private Task<bool>? _pending;

    public DeliveryReader(ITransportSubscription subscription, CancellationToken cancellationToken = default) =>
        _enumerator = subscription.ReadAllAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);

    /// <summary>The next delivery; fails the test when none arrives in time.</summary>
    public async Task<ITransportDelivery> NextAsync(TimeSpan timeout)
    {
        var next = await TryNextAsync(timeout);
        return next ?? throw new TimeoutException($"No delivery within {timeout}.");
    }

    /// <summary>The next delivery, or null when none arrives within <paramref name="window"/> (the read stays pending for the next call).</summary>
    public async Task<ITransportDelivery?> TryNextAsync(TimeSpan window)
    {
        _pending ??= _enumerator.MoveNextAsync().AsTask();
        var finished = await Task.WhenAny(_pending, Task.Delay(window));
        if (finished != _pending)
            return null;
        var moved = await _pending;
        _pending = null;
        if (!moved)
            throw new InvalidOperationException("The subscription ended.");
        return _enumerator.Current;
    }

    /// <summary>Reads exactly <paramref name="count"/> deliveries.</summary>
    public async Task<List<ITransportDelivery>> TakeAsync(int count, TimeSpan timeout)
    {
        var list = new List<ITransportDelivery>(count);
        using var limit = new CancellationTokenSource(timeout);
        while (list.Count < count)
        {
            var next = await TryNextAsync(TimeSpan.FromMilliseconds(200));
            if (next is not null)
                list.Add(next);
            else if (limit.IsCancellationRequested)
                throw new TimeoutException($"Got {list.Count} of {count} deliveries within {timeout}.");
        }

        return list;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _enumerator.DisposeAsync();
        }
        catch (NotSupportedException)
        {
            // An async iterator with a MoveNextAsync still pending refuses disposal; the subscription's disposal ends it.
        }
    }
}

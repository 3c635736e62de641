using Busbar.Diagnostics;
using Busbar.Transport;
using Microsoft.Extensions.Logging;

namespace Busbar.Dispatch;

/// <summary>
/// Reads one transport subscription into the <see cref="TransportSource"/> until intake ends, without ever waiting for a
/// handler: the deliveries that arrive together are queued, and when the burst ends the thread that read them runs them
/// (no thread-pool hop for a lone delivery), after the wait for the next delivery was handed to a continuation of its own.
/// So a handler that blocks that thread holds a pump, as any, but not the read: deliveries the broker hands out meanwhile
/// are read, their leases kept, and run by the other pumps.
/// </summary>
/// <remarks>
/// One read is outstanding at a time (the enumerator is read by one reader), each started by the thread that finished the
/// one before; the thread that ends a burst returns as soon as it ran the queue.
/// </remarks>
internal sealed class TransportReader
{
    private readonly TransportSource _source;
    private readonly CancellationToken _token;
    private readonly ILogger _logger;
    private readonly string _bus;
    private readonly string _group;
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Action _onNext;
    private IAsyncEnumerator<ITransportDelivery>? _deliveries;

    /// <summary>The read under way when a burst ended; completed, it resumes in <see cref="OnNext"/>.</summary>
    private ValueTask<bool> _next;

    private TransportReader(TransportSource source, CancellationToken token, ILogger logger, string bus, string group)
    {
        _source = source;
        _token = token;
        _logger = logger;
        _bus = bus;
        _group = group;
        _onNext = OnNext;
    }

    /// <summary>Starts reading; the task completes when reading ended (intake stopped, the subscription closed or failed) and what it queued ran.</summary>
    public static Task Start(ITransportSubscription subscription, TransportSource source, CancellationToken token, ILogger logger, string bus, string group)
    {
        var reader = new TransportReader(source, token, logger, bus, group);
        try
        {
            reader._deliveries = subscription.ReadAllAsync(token).GetAsyncEnumerator(token);
        }
        catch (Exception ex)
        {
            reader.Failed(ex);
            reader.End();
            return reader._ended.Task;
        }

        reader.Read();
        return reader._ended.Task;
    }

    /// <summary>Reads what is there; at the end of a burst hands the next read to <see cref="OnNext"/> and runs the queue. Never throws.</summary>
    private void Read()
    {
        var deliveries = _deliveries!;
        try
        {
            while (true)
            {
                var next = deliveries.MoveNextAsync();
                if (!next.IsCompleted)
                {
                    _next = next;
                    next.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_onNext);
                    _source.RunQueued();
                    return;
                }

                if (!next.Result)
                    break;
                _source.Enqueue(deliveries.Current);
            }
        }
        catch (Exception ex)
        {
            Failed(ex);
        }

        End();
    }

    /// <summary>The read under way completed: its delivery is queued and reading goes on here.</summary>
    private void OnNext()
    {
        try
        {
            var next = _next;
            _next = default;
            if (!next.GetAwaiter().GetResult())
            {
                End();
                return;
            }

            _source.Enqueue(_deliveries!.Current);
        }
        catch (Exception ex)
        {
            Failed(ex);
            End();
            return;
        }

        Read();
    }

    private void Failed(Exception ex)
    {
        if (ex is OperationCanceledException && _token.IsCancellationRequested)
            return;
        TransportLogMessages.ReadFailed(_logger, ex, _bus, _group);
    }

    /// <summary>Reading ended: deliveries queued by then still run (and settle) before the stop finds the source idle; the enumerator is disposed.</summary>
    private void End()
    {
        _source.RunQueued();
        _ = CloseAsync();
    }

    /// <summary>Disposes the enumerator, then completes the task <see cref="Start"/> returned. Never throws.</summary>
    private async Task CloseAsync()
    {
        try
        {
            if (_deliveries is { } deliveries)
                await deliveries.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Failed(ex);
        }

        _ended.TrySetResult();
    }
}

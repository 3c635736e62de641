using System.Threading.Channels;
using Busbar.Benchmarks.Events;

namespace Busbar.Benchmarks.Driver;

/// <summary>
/// The raw hand-off floor: the producer writes the event with a <see cref="TaskCompletionSource"/>
/// into a bounded channel and awaits it; the consumer completes it. Continuations run
/// asynchronously, as a library must not run its caller's continuation on its own worker.
/// </summary>
public sealed class ChannelRoundTrip : IRoundTrip
{
    private readonly Channel<(Ping Event, TaskCompletionSource Handled)> _channel;
    private readonly Task _consumer;
    private long _handled;

    public ChannelRoundTrip(int capacity)
    {
        _channel = Channel.CreateBounded<(Ping, TaskCompletionSource)>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
        _consumer = Task.Run(ConsumeAsync);
    }

    public string Name => "Channel + TaskCompletionSource (raw)";

    public async ValueTask RoundTripAsync(int value, CancellationToken cancellationToken)
    {
        var handled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await _channel.Writer.WriteAsync((new Ping(value), handled), cancellationToken);
        await handled.Task.WaitAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Writer.TryComplete();
        await _consumer;
    }

    private async Task ConsumeAsync()
    {
        var reader = _channel.Reader;
        while (await reader.WaitToReadAsync())
        {
            while (reader.TryRead(out var item))
            {
                _handled++;
                item.Handled.TrySetResult();
            }
        }
    }
}

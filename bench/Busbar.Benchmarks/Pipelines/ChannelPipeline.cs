using System.Threading.Channels;
using Busbar.Benchmarks.Events;

namespace Busbar.Benchmarks.Pipelines;

/// <summary>
/// The floor: a raw <c>Channel.CreateBounded</c> (FullMode Wait), <c>WriteAsync</c> on the producer,
/// a <c>WaitToReadAsync</c> + <c>TryRead</c> drain loop on the consumer.
/// </summary>
public sealed class ChannelPipeline(int capacity) : QueuedPipeline
{
    private readonly Channel<Ping> _channel = Channel.CreateBounded<Ping>(new BoundedChannelOptions(capacity)
    {
        FullMode = BoundedChannelFullMode.Wait,
        SingleReader = true,
        SingleWriter = false,
    });

    private Task _consumer = Task.CompletedTask;

    public override string Name => "Channel.CreateBounded (raw)";

    public override Task StartAsync()
    {
        _consumer = Task.Run(ConsumeAsync);
        return Task.CompletedTask;
    }

    public override async ValueTask DisposeAsync()
    {
        _channel.Writer.TryComplete();
        await _consumer;
    }

    protected override async Task PublishAsync(int count, CancellationToken cancellationToken)
    {
        var writer = _channel.Writer;
        for (var i = 0; i < count; i++)
        {
            await writer.WriteAsync(new Ping(i), cancellationToken);
        }
    }

    private async Task ConsumeAsync()
    {
        var reader = _channel.Reader;
        while (await reader.WaitToReadAsync())
        {
            while (reader.TryRead(out _))
            {
                OnHandledSerial();
            }
        }
    }
}

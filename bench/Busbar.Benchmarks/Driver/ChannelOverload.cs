using System.Diagnostics;
using System.Threading.Channels;
using Busbar.Benchmarks.Events;

namespace Busbar.Benchmarks.Driver;

/// <summary>
/// Reference rows for the overload table: a raw bounded channel with the same slow consumer, in the
/// channel's own full modes (dropped items counted by its <c>itemDropped</c> callback).
/// </summary>
public static class ChannelOverload
{
    public static async Task<OverloadResult> RunAsync(DriverSettings settings, BoundedChannelFullMode mode)
    {
        long dropped = 0;
        long handled = 0;
        var channel = Channel.CreateBounded<Ping>(
            new BoundedChannelOptions(settings.Capacity) { FullMode = mode, SingleReader = true, SingleWriter = true },
            _ => Interlocked.Increment(ref dropped));

        using var limit = new CancellationTokenSource(settings.ScenarioLimit);
        await using var sampler = WorkingSetSampler.Start();
        var started = Stopwatch.GetTimestamp();
        var consumer = Task.Run(async () =>
        {
            var reader = channel.Reader;
            while (await reader.WaitToReadAsync(CancellationToken.None))
            {
                while (reader.TryRead(out _))
                {
                    SlowWork.Spin(settings.SlowHandlerWork);
                    handled++;
                }
            }
        });

        long published = 0;
        var cutShort = false;
        try
        {
            for (var i = 0; i < settings.OverloadEvents; i++)
            {
                await channel.Writer.WriteAsync(new Ping(i), limit.Token);
                published++;
            }
        }
        catch (OperationCanceledException)
        {
            cutShort = true;
        }

        channel.Writer.Complete();
        await consumer;
        var elapsed = Stopwatch.GetElapsedTime(started);
        return new OverloadResult("Channel.CreateBounded (raw)", mode.ToString(), published, handled,
            Interlocked.Read(ref dropped), 0, sampler.Baseline, sampler.Growth, elapsed, cutShort);
    }
}

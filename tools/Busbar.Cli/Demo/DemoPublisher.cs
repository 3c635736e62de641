using System.Globalization;

namespace Busbar.Cli.Demo;

/// <summary>
/// Publishes orders at a steady rate, with three bursts of twice the queue capacity that hit
/// backpressure, so the chosen <see cref="BusFullMode"/> shows what it does.
/// </summary>
internal sealed class DemoPublisher
{
    private const int BurstCount = 3;
    private static readonly TimeSpan s_tick = TimeSpan.FromMilliseconds(20);

    private readonly IEventBus _bus;
    private readonly DemoSettings _settings;
    private readonly OutcomeLedger _ledger;
    private readonly TimeProvider _time;
    private long _orders;
    private long _waitedTicks;
    private int _bursts;
    private string? _lastBurst;
    private long _start;

    public DemoPublisher(IEventBus bus, DemoSettings settings, OutcomeLedger ledger, TimeProvider time)
    {
        _bus = bus;
        _settings = settings;
        _ledger = ledger;
        _time = time;
    }

    public int BurstSize => _settings.Capacity * 2;

    public int Bursts => Volatile.Read(ref _bursts);

    /// <summary>Time the publisher spent inside <c>PublishAsync</c>, which under <see cref="BusFullMode.Wait"/> is mostly waiting for room.</summary>
    public TimeSpan Waited => TimeSpan.FromTicks(Interlocked.Read(ref _waitedTicks));

    /// <summary>What the last burst ran into, for the live view.</summary>
    public string? LastBurst => Volatile.Read(ref _lastBurst);

    private bool LimitReached => _settings.MaxOrders is { } max && _orders >= max;

    /// <summary>Under <see cref="BusFullMode.Wait"/> a burst can outlast the window; it stops there too.</summary>
    private bool WindowOver => _time.GetElapsedTime(_start) >= _settings.PublishWindow;

    /// <summary>Publishes until the publish window is spent, the order limit is reached, or <paramref name="cancellationToken"/> fires.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var window = _settings.PublishWindow;
        var burstEvery = window / (BurstCount + 1);
        var nextBurst = burstEvery;
        _start = _time.GetTimestamp();
        var maxPerTick = Math.Max(1, _settings.Rate / 10);
        long steady = 0;
        using var timer = new PeriodicTimer(s_tick, _time);
        try
        {
            while (!LimitReached && await timer.WaitForNextTickAsync(cancellationToken))
            {
                var elapsed = _time.GetElapsedTime(_start);
                if (elapsed >= window)
                    break;

                // After a burst that waited for room, do not flood the queue to catch up on the schedule.
                var due = (long)(elapsed.TotalSeconds * _settings.Rate) - steady;
                if (due > maxPerTick)
                {
                    steady += due - maxPerTick;
                    due = maxPerTick;
                }

                for (; due > 0 && !LimitReached; due--, steady++)
                    await PublishOrderAsync(cancellationToken);

                if (elapsed >= nextBurst && _bursts < BurstCount && !LimitReached)
                {
                    await BurstAsync(cancellationToken);
                    nextBurst += burstEvery;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl+C: stop publishing; the caller runs the graceful shutdown.
        }
    }

    private async Task BurstAsync(CancellationToken cancellationToken)
    {
        var before = _bus.GetStatistics();
        var waitedBefore = Waited;
        var burst = Interlocked.Increment(ref _bursts);
        Volatile.Write(ref _lastBurst, string.Create(CultureInfo.InvariantCulture, $"burst {burst}/{BurstCount}: {BurstSize} orders at once into a queue of {_settings.Capacity}..."));
        for (var i = 0; i < BurstSize && !LimitReached && !WindowOver; i++)
            await PublishOrderAsync(cancellationToken);

        var after = _bus.GetStatistics();
        var effect = _settings.FullMode switch
        {
            BusFullMode.Wait => string.Create(CultureInfo.InvariantCulture, $"Wait: the publisher waited {(Waited - waitedBefore).TotalMilliseconds:F0} ms for room, nothing lost"),
            BusFullMode.Reject => string.Create(CultureInfo.InvariantCulture, $"Reject: {after.Rejected - before.Rejected} publishes threw BusFullException"),
            BusFullMode.DropNewest => string.Create(CultureInfo.InvariantCulture, $"DropNewest: {after.Dropped - before.Dropped} new orders dropped"),
            _ => string.Create(CultureInfo.InvariantCulture, $"DropOldest: {after.Dropped - before.Dropped} queued orders evicted"),
        };
        Volatile.Write(ref _lastBurst, string.Create(CultureInfo.InvariantCulture, $"burst {burst}/{BurstCount} of {BurstSize} orders: {effect}"));
    }

    private async ValueTask PublishOrderAsync(CancellationToken cancellationToken)
    {
        var order = OrderPipeline.CreateOrder(++_orders);
        var started = _time.GetTimestamp();
        try
        {
            var handle = await _bus.PublishAsync(order, new PublishOptions { OrderingKey = order.Customer }, cancellationToken);
            _ledger.Track(handle, isOrder: true);
        }
        catch (BusFullException)
        {
            _ledger.Refused(isOrder: true);
        }
        catch (OperationCanceledException)
        {
            // Cancelled while waiting for room: the bus counts the order as rejected, and so do we.
            _ledger.Refused(isOrder: true);
            throw;
        }
        finally
        {
            Interlocked.Add(ref _waitedTicks, _time.GetElapsedTime(started).Ticks);
        }
    }
}

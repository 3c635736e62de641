using System.Globalization;

namespace Busbar.Cli.Demo;

/// <summary>
/// Publishes orders at a steady rate, with three bursts of twice the queue capacity that hit
/// backpressure, so the chosen <see cref="BusFullMode"/> shows what it does, and records for each
/// burst what it did and when the queue recovered.
/// </summary>
internal sealed class DemoPublisher
{
    public const int BurstCount = 3;
    private static readonly TimeSpan s_tick = TimeSpan.FromMilliseconds(20);

    private readonly IEventBus _bus;
    private readonly DemoSettings _settings;
    private readonly OutcomeLedger _ledger;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly List<BurstReport> _bursts = [];
    private long _orders;
    private long _waitedTicks;
    private string? _current;
    private long _start;

    public DemoPublisher(IEventBus bus, DemoSettings settings, OutcomeLedger ledger, TimeProvider time)
    {
        _bus = bus;
        _settings = settings;
        _ledger = ledger;
        _time = time;
    }

    public int BurstSize => _settings.BurstSize;

    /// <summary>Time the publisher spent inside <c>PublishAsync</c>, which under <see cref="BusFullMode.Wait"/> is mostly waiting for room.</summary>
    public TimeSpan Waited => TimeSpan.FromTicks(Interlocked.Read(ref _waitedTicks));

    /// <summary>The bursts so far, finished ones with their effect.</summary>
    public IReadOnlyList<BurstReport> Bursts
    {
        get
        {
            lock (_gate)
                return [.. _bursts];
        }
    }

    /// <summary>The burst being published right now, for the live view; null between bursts.</summary>
    public string? CurrentBurst => Volatile.Read(ref _current);

    private bool LimitReached => _settings.MaxOrders is { } max && _orders >= max;

    /// <summary>Under <see cref="BusFullMode.Wait"/> a burst can outlast the window; it stops there too.</summary>
    private bool WindowOver => _time.GetElapsedTime(_start) >= _settings.PublishWindow;

    private TimeSpan Elapsed => _time.GetElapsedTime(_start);

    /// <summary>Publishes until the publish window is spent, the order limit is reached, or <paramref name="stop"/> fires (Ctrl+C).</summary>
    /// <remarks>
    /// <paramref name="stop"/> is checked between publishes and never cancels one: a publish waiting for
    /// room when Ctrl+C arrives finishes its wait, so the stop does not turn it into a rejection.
    /// </remarks>
    public async Task RunAsync(CancellationToken stop)
    {
        var window = _settings.PublishWindow;
        var burstEvery = _settings.BurstGap;
        var nextBurst = burstEvery;
        _start = _time.GetTimestamp();
        var maxPerTick = Math.Max(1, _settings.Rate / 10);
        long steady = 0;
        long ticks = 0;
        using var timer = new PeriodicTimer(s_tick, _time);
        try
        {
            while (!LimitReached && !stop.IsCancellationRequested && await timer.WaitForNextTickAsync(stop))
            {
                var elapsed = Elapsed;
                if (elapsed >= window)
                    break;
                if (++ticks % 5 == 0)
                    WatchRecovery();

                // After a burst that waited for room, do not flood the queue to catch up on the schedule.
                var due = (long)(elapsed.TotalSeconds * _settings.Rate) - steady;
                if (due > maxPerTick)
                {
                    steady += due - maxPerTick;
                    due = maxPerTick;
                }

                for (; due > 0 && !LimitReached && !stop.IsCancellationRequested; due--, steady++)
                    await PublishOrderAsync();

                if (elapsed >= nextBurst && _bursts.Count < BurstCount && !LimitReached && !stop.IsCancellationRequested)
                {
                    await BurstAsync(stop);
                    nextBurst += burstEvery;
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Ctrl+C while waiting for the next tick: stop publishing; the caller runs the graceful shutdown.
        }
    }

    private async Task BurstAsync(CancellationToken stop)
    {
        var before = _bus.GetStatistics();
        var waitedBefore = Waited;
        var at = Elapsed;
        int number;
        lock (_gate)
            number = _bursts.Count + 1;
        Volatile.Write(ref _current, string.Create(CultureInfo.InvariantCulture, $"burst {number}/{BurstCount}: {BurstSize} orders at once into a queue of {_settings.Capacity}..."));
        var published = 0;
        for (; published < BurstSize && !LimitReached && !WindowOver && !stop.IsCancellationRequested; published++)
            await PublishOrderAsync();

        var after = _bus.GetStatistics();
        var report = new BurstReport
        {
            Number = number,
            At = at,
            Orders = published,
            FullMode = _settings.FullMode,
            Waited = Waited - waitedBefore,
            Rejected = after.Rejected - before.Rejected,
            Dropped = after.Dropped - before.Dropped,
        };
        lock (_gate)
            _bursts.Add(report);
        Volatile.Write(ref _current, null);
    }

    /// <summary>Marks the last burst recovered once the queue is back under a quarter of its capacity (checked every 100 ms: a statistics snapshot summarizes every handler's latencies).</summary>
    private void WatchRecovery()
    {
        lock (_gate)
        {
            if (_bursts.Count == 0 || _bursts[^1].RecoveredAfter is not null)
                return;
        }

        if (_bus.GetStatistics().QueueDepth * 4 > _settings.Capacity)
            return;
        lock (_gate)
        {
            var last = _bursts[^1];
            _bursts[^1] = last with { RecoveredAfter = Elapsed - last.At };
        }
    }

    private async ValueTask PublishOrderAsync()
    {
        var order = OrderPipeline.CreateOrder(++_orders);
        var started = _time.GetTimestamp();
        try
        {
            var handle = await _bus.PublishAsync(order, new PublishOptions { OrderingKey = order.Customer }, CancellationToken.None);
            _ledger.Track(handle, isOrder: true);
        }
        catch (BusFullException)
        {
            _ledger.Refused(isOrder: true);
        }
        finally
        {
            Interlocked.Add(ref _waitedTicks, _time.GetElapsedTime(started).Ticks);
        }
    }
}

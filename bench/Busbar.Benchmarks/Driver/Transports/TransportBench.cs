using System.Diagnostics;
using System.Text.Json;
using Busbar.Benchmarks.Transport;
using Busbar.Transport;

namespace Busbar.Benchmarks.Driver.Transports;

/// <summary>What every transport row shares: the events, their registry, the publish window and the bounded waits.</summary>
public static class TransportBench
{
    /// <summary>Publishes started before the loop awaits them all, raw and through the bus alike (the raw references' window).</summary>
    public const int Window = 256;

    /// <summary>
    /// Deliveries a consuming bus holds at once (<see cref="EventBusOptions.MaxConcurrentEvents"/>, the transport's in-flight
    /// bound): as many as the raw consume rows hold unacknowledged (Redis <c>XREADGROUP COUNT 500</c>, NATS 500 buffered), so
    /// both sides read in batches of the same size.
    /// </summary>
    public const int ConsumerConcurrency = 500;

    /// <summary>The ~100-byte event every throughput row publishes.</summary>
    public static OrderPlacedBench Order { get; } = new(42, new string('x', 64), 99.5m);

    /// <summary>The same event as the raw rows publish it: its JSON alone, without Busbar's envelope.</summary>
    public static byte[] OrderJson { get; } = JsonSerializer.SerializeToUtf8Bytes(Order, BenchTransportJson.Default.OrderPlacedBench);

    /// <summary>The event types that travel, for <c>UseTransport</c> and the codec.</summary>
    public static EventTypeRegistry Registry() => new EventTypeRegistry()
        .Add(BenchTransportJson.Default.OrderPlacedBench)
        .Add(BenchTransportJson.Default.TransportLatencyPing);

    /// <summary>Encodes <paramref name="count"/> order events with fresh ids, as a publishing bus would, in batches of <see cref="Window"/>.</summary>
    public static TransportMessage[][] EncodeOrders(int count)
    {
        var codec = new EnvelopeCodec(Registry());
        return Enumerable.Range(0, count)
            .Select(_ => codec.Encode(new EventEnvelope { EventId = Guid.CreateVersion7(), Name = "bench.orders.placed", CreatedAt = DateTimeOffset.UtcNow }, Order))
            .Chunk(Window)
            .ToArray();
    }

    /// <summary>
    /// Publishes <paramref name="count"/> encoded order events through <paramref name="transport"/> (a consume row's setup).
    /// A method of its own, so the encoded batches are garbage once it returns: inside the measuring method an async state
    /// machine would keep them reachable through the measured part, and its collections would promote tens of megabytes
    /// that the raw rows never allocate.
    /// </summary>
    public static async Task FillAsync(IEventTransport transport, int count, CancellationToken cancellationToken)
    {
        foreach (var batch in EncodeOrders(count))
            await transport.PublishAsync(batch, cancellationToken);
    }

    /// <summary>
    /// Collects the heap just before a consume row's clock starts (every row, raw ones too), so no row pays for the garbage of
    /// its own setup or of the row before it.
    /// </summary>
    public static void CollectSetupGarbage()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    /// <summary>Starts <see cref="Window"/> operations, awaits them all, and again until <paramref name="count"/> ran.</summary>
    public static async Task WindowedAsync(int count, Func<Task> start, CancellationToken cancellationToken)
    {
        var inFlight = new Task[Window];
        for (var i = 0; i < count; i += Window)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var n = Math.Min(Window, count - i);
            for (var j = 0; j < n; j++)
                inFlight[j] = start();
            await Task.WhenAll(n == Window ? inFlight : inFlight[..n]).WaitAsync(cancellationToken);
        }
    }

    /// <summary>Publishes <paramref name="count"/> order events through <paramref name="bus"/>: <see cref="Window"/> publishes, then their handles awaited together.</summary>
    /// <exception cref="InvalidOperationException">The broker refused an event (its handle ended other than Completed).</exception>
    public static async Task PublishThroughBusAsync(IEventBus bus, int count, CancellationToken cancellationToken)
    {
        var handles = new EventHandle[Window];
        for (var i = 0; i < count; i += Window)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var n = Math.Min(Window, count - i);
            for (var j = 0; j < n; j++)
                handles[j] = await bus.PublishAsync(Order with { Number = i + j }, cancellationToken: cancellationToken);
            for (var j = 0; j < n; j++)
            {
                // Awaited as a user awaits a handle (no task per event); the round's limit is checked once per window.
                var outcome = await handles[j];
                if (!outcome.IsSuccess)
                    throw new InvalidOperationException($"bus publish {i + j} ended {outcome.Status}");
            }
        }
    }

    /// <summary>
    /// Reads <paramref name="count"/> deliveries of a transport subscription and acks each, up to <see cref="Window"/> acks
    /// awaited together (as concurrent handlers would settle them).
    /// </summary>
    public static async Task ReadAndAckAsync(ITransportSubscription subscription, int count, CancellationToken cancellationToken)
    {
        var acks = new Task[Window];
        var pending = 0;
        var read = 0;
        await foreach (var delivery in subscription.ReadAllAsync(cancellationToken))
        {
            acks[pending++] = delivery.AckAsync(cancellationToken).AsTask();
            if (pending == Window)
            {
                await Task.WhenAll(acks);
                pending = 0;
            }

            if (++read == count)
                break;
        }

        await Task.WhenAll(acks[..pending]);
    }

    /// <summary>Polls <paramref name="condition"/> every millisecond until it holds; the token bounds the wait.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, CancellationToken cancellationToken)
    {
        while (!await condition())
            await Task.Delay(1, cancellationToken);
    }

    /// <summary>Microseconds between two <see cref="Stopwatch"/> timestamps.</summary>
    public static double Micros(long from, long to) => Stopwatch.GetElapsedTime(from, to).TotalMicroseconds;
}

/// <summary>
/// One latency row: publishes one <see cref="TransportLatencyPing"/> carrying its publish timestamp and returns the
/// microseconds until a handler (or the raw consumer loop) received it.
/// </summary>
public interface ILatencyRow : IAsyncDisposable
{
    /// <summary>The row's name in the table.</summary>
    string Name { get; }

    /// <summary>Publishes ping <paramref name="sequence"/> and waits until it arrived (and the publish was accepted).</summary>
    Task<double> SampleAsync(long sequence, CancellationToken cancellationToken);
}

/// <summary>
/// Where a consumer reports a ping's arrival and a sample waits for it. One sample at a time (the rows are sequential); a
/// ping that is not the awaited one (a redelivery, a warm-up straggler) is ignored.
/// </summary>
public sealed class LatencyArrival
{
    private TaskCompletionSource<long>? _pending;
    private long _expected = -1;
    private Exception? _failure;

    /// <summary>Waits for ping <paramref name="sequence"/>; the task's result is the arrival's timestamp.</summary>
    public Task<long> Expect(long sequence)
    {
        var pending = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Volatile.Read(ref _failure) is { } failure)
            pending.SetException(failure);
        Volatile.Write(ref _pending, pending);
        Volatile.Write(ref _expected, sequence);
        return pending.Task;
    }

    /// <summary>Reports ping <paramref name="sequence"/>, received at <paramref name="timestamp"/>.</summary>
    public void Arrive(long sequence, long timestamp)
    {
        if (Volatile.Read(ref _expected) == sequence)
            Volatile.Read(ref _pending)?.TrySetResult(timestamp);
    }

    /// <summary>The consumer stopped with <paramref name="failure"/>: the awaited sample and every later one fail with it.</summary>
    public void Fail(Exception failure)
    {
        Volatile.Write(ref _failure, failure);
        Volatile.Read(ref _pending)?.TrySetException(failure);
    }
}

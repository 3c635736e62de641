using Microsoft.Extensions.Logging;

namespace Busbar.Tests.Diagnostics;

[EventName("diag.order")]
public sealed record DiagOrder(int Id);

/// <summary>Hands out one logger for every category, so a test sees everything the bus logs.</summary>
internal sealed class SingleLoggerFactory(ILogger logger) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => logger;

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }
}

/// <summary>Waits on conditions with a deadline, never on a fixed delay.</summary>
internal static class Eventually
{
    public static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    public static async Task True(Func<bool> condition, string what)
    {
        using var cts = new CancellationTokenSource(Limit);
        while (!condition())
        {
            if (cts.IsCancellationRequested)
                throw new TimeoutException($"Condition not met in time: {what}");
            await Task.Yield();
            await Task.Delay(1, CancellationToken.None);
        }
    }

    public static Task<T> Within<T>(this ValueTask<T> task) => task.AsTask().WaitAsync(Limit);

    public static Task Within(this Task task) => task.WaitAsync(Limit);
}

/// <summary>A handler gate: the handler blocks until the test opens it, so the queue can be held full.</summary>
internal sealed class Gate
{
    private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _entered;

    public int Entered => Volatile.Read(ref _entered);

    public async ValueTask PassAsync()
    {
        Interlocked.Increment(ref _entered);
        await _open.Task;
    }

    public void Open() => _open.TrySetResult();
}

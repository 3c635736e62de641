namespace Busbar.Tests;

/// <summary>Per-test time limits: a hang fails fast instead of stalling the run.</summary>
internal static class TestTimeout
{
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(20);

    public static CancellationToken Token(TimeSpan? limit = null) => new CancellationTokenSource(limit ?? Default).Token;

    public static async Task<T> Within<T>(this Task<T> task, TimeSpan? limit = null) => await task.WaitAsync(limit ?? Default);

    public static async Task Within(this Task task, TimeSpan? limit = null) => await task.WaitAsync(limit ?? Default);

    public static Task<T> Within<T>(this ValueTask<T> task, TimeSpan? limit = null) => task.AsTask().Within(limit);

    public static Task Within(this ValueTask task, TimeSpan? limit = null) => task.AsTask().Within(limit);

    /// <summary>Waits until <paramref name="condition"/> holds, polling; fails after the limit.</summary>
    public static async Task Until(Func<bool> condition, TimeSpan? limit = null, string? what = null)
    {
        using var cts = new CancellationTokenSource(limit ?? Default);
        while (!condition())
        {
            if (cts.IsCancellationRequested)
                throw new TimeoutException($"Condition not met in time: {what ?? "condition"}");
            await Task.Yield();
            await Task.Delay(1, CancellationToken.None);
        }
    }
}

namespace Busbar.Cli.Tests;

/// <summary>Waits for a condition (never for a fixed time), failing the test if it does not come true in time.</summary>
internal static class Eventually
{
    private static readonly TimeSpan s_poll = TimeSpan.FromMilliseconds(10);

    public static async Task TrueAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        using var expired = new CancellationTokenSource(timeout ?? CliRun.Timeout);
        while (!condition())
        {
            if (expired.IsCancellationRequested)
                Assert.Fail($"timed out waiting until {what}");

            // A poll interval, not synchronisation: the loop exits on the condition.
            await Task.Delay(s_poll, CancellationToken.None);
        }
    }
}

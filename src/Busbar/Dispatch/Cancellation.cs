using Busbar.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Busbar.Dispatch;

/// <summary>
/// Cancels a <see cref="CancellationTokenSource"/> from a timer, the stop path or a first-wins
/// completion without ever throwing.
/// </summary>
/// <remarks>
/// These calls run on thread-pool timer threads, where an exception terminates the process. Two
/// exceptions are possible: <see cref="ObjectDisposedException"/> when the attempt or event ended
/// (and disposed its source) while the timer was already firing, and <see cref="AggregateException"/>
/// when a callback a handler registered on its token throws. The first is expected and ignored; the
/// second is the handler's fault and is logged.
/// </remarks>
internal static class Cancellation
{
    public static void TryCancel(CancellationTokenSource source, ILogger logger)
    {
        try
        {
            source.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The attempt or event ended while the timer fired: nothing is left to cancel.
        }
        catch (AggregateException ex)
        {
            LogMessages.CancellationCallbackFailed(logger, ex);
        }
    }

    public static async Task TryCancelAsync(CancellationTokenSource source, ILogger logger)
    {
        try
        {
            await source.CancelAsync().ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            // Already disposed: nothing is left to cancel.
        }
        catch (AggregateException ex)
        {
            LogMessages.CancellationCallbackFailed(logger, ex);
        }
    }
}

using Microsoft.Extensions.Logging;

namespace Busbar.Dispatch;

/// <summary>The per-attempt timeout of one handler invocation: a token source linked to the event's token and a timer that cancels it.</summary>
internal sealed class AttemptTimeout : IDisposable
{
    private readonly CancellationTokenSource _source;
    private readonly ILogger _logger;
    private ITimer? _timer;

    private AttemptTimeout(CancellationTokenSource source, ILogger logger)
    {
        _source = source;
        _logger = logger;
    }

    /// <summary>Starts the timer of one attempt. The timer gets the timeout once it is fully built, never from its constructor.</summary>
    public static AttemptTimeout Start(CancellationToken eventToken, TimeSpan limit, TimeProvider time, ILogger logger)
    {
        var timeout = new AttemptTimeout(CancellationTokenSource.CreateLinkedTokenSource(eventToken), logger);
        timeout._timer = time.CreateTimer(static s => ((AttemptTimeout)s!).Fire(), timeout, limit, Timeout.InfiniteTimeSpan);
        return timeout;
    }

    public CancellationToken Token => _source.Token;

    /// <summary>The attempt's token was cancelled (by its timer or the event's token).</summary>
    public bool IsCancellationRequested => _source.IsCancellationRequested;

    private void Fire() => Cancellation.TryCancel(_source, _logger);

    public void Dispose()
    {
        // Dispose does not wait for a callback already running: Fire tolerates the disposed source.
        _timer?.Dispose();
        _source.Dispose();
    }
}

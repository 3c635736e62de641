using Microsoft.Extensions.Logging;

namespace Busbar.Dispatch;

/// <summary>The per-attempt timeout of one handler invocation: a token source linked to the event's token and a timer that cancels it.</summary>
internal sealed class AttemptTimeout : IDisposable
{
    private readonly CancellationTokenSource _source;
    private readonly ITimer _timer;
    private readonly ILogger _logger;

    public AttemptTimeout(CancellationToken eventToken, TimeSpan limit, TimeProvider time, ILogger logger)
    {
        _source = CancellationTokenSource.CreateLinkedTokenSource(eventToken);
        _logger = logger;
        _timer = time.CreateTimer(static s => ((AttemptTimeout)s!).Fire(), this, limit, Timeout.InfiniteTimeSpan);
    }

    public CancellationToken Token => _source.Token;

    /// <summary>The attempt's token was cancelled (by its timer or the event's token).</summary>
    public bool IsCancellationRequested => _source.IsCancellationRequested;

    private void Fire() => Cancellation.TryCancel(_source, _logger);

    public void Dispose()
    {
        // Dispose does not wait for a callback already running: Fire tolerates the disposed source.
        _timer.Dispose();
        _source.Dispose();
    }
}

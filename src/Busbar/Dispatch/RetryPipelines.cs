using Busbar.Diagnostics;
using Polly;
using Polly.Retry;

namespace Busbar.Dispatch;

/// <summary>Builds the Polly pipeline that executes a <see cref="RetryPolicy"/>.</summary>
internal static class RetryPipelines
{
    /// <summary>Builds the pipeline of <paramref name="policy"/>.</summary>
    /// <param name="policy">The subscription's retry policy.</param>
    /// <param name="metrics">Counts retries.</param>
    /// <param name="log">Logs retries.</param>
    /// <param name="time">The clock of the back-off delays.</param>
    public static ResiliencePipeline Create(RetryPolicy policy, BusMetrics metrics, EventLogger log, TimeProvider time)
    {
        var shouldRetry = policy.ShouldRetry;
        var options = new RetryStrategyOptions
        {
            MaxRetryAttempts = policy.MaxAttempts - 1,
            Delay = policy.Delay,
            MaxDelay = policy.MaxDelay,
            UseJitter = policy.UseJitter,
            BackoffType = policy.Backoff switch
            {
                RetryBackoff.Constant => DelayBackoffType.Constant,
                RetryBackoff.Linear => DelayBackoffType.Linear,
                _ => DelayBackoffType.Exponential,
            },
            ShouldHandle = args => ValueTask.FromResult(
                args.Outcome.Exception is { } ex
                && !(ex is OperationCanceledException && args.Context.CancellationToken.IsCancellationRequested)
                && (shouldRetry is null || shouldRetry(ex))),
            OnRetry = args =>
            {
                // Retries run inside the handler's ambient frame, which names the event and the subscription.
                Ambient.Current(out var context, out var subscription);
                metrics.Retried(context, subscription);
                if (context is not null && subscription is not null)
                    log.Retrying(context, subscription, args.Outcome.Exception, args.AttemptNumber + 1);
                return default;
            },
        };
        return new ResiliencePipelineBuilder { TimeProvider = time }.AddRetry(options).Build();
    }
}

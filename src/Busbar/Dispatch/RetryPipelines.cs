using Polly;
using Polly.Retry;

namespace Busbar.Dispatch;

/// <summary>Builds the Polly pipeline that executes a <see cref="RetryPolicy"/>.</summary>
internal static class RetryPipelines
{
    public static ResiliencePipeline Create(RetryPolicy policy, InProcessEventBus bus)
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
                bus.Metrics.Retried(context, subscription);
                if (context is not null && subscription is not null)
                    bus.EventLog.Retrying(context, subscription, args.Outcome.Exception, args.AttemptNumber + 1);
                return default;
            },
        };
        return new ResiliencePipelineBuilder { TimeProvider = bus.TimeProvider }.AddRetry(options).Build();
    }
}

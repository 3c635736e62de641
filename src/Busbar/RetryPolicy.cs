namespace Busbar;

/// <summary>How a failing handler is retried. Executed with Polly's retry strategy.</summary>
public sealed record RetryPolicy
{
    /// <summary>Total attempts, the first included.</summary>
    /// <value>Default 3. Must be at least 1.</value>
    public int MaxAttempts { get; init; } = 3;

    /// <summary>The base delay between attempts.</summary>
    /// <value>Default 100 ms. <see cref="TimeSpan.Zero"/> retries at once.</value>
    public TimeSpan Delay { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How the delay grows.</summary>
    /// <value>Default <see cref="RetryBackoff.Exponential"/>.</value>
    public RetryBackoff Backoff { get; init; } = RetryBackoff.Exponential;

    /// <summary>Upper bound on one delay.</summary>
    /// <value>Default 30 seconds.</value>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Randomises delays so that many failing handlers do not retry in lock step.</summary>
    /// <value>Default <see langword="true"/>.</value>
    public bool UseJitter { get; init; } = true;

    /// <summary>Which exceptions are retried.</summary>
    /// <value>Default <see langword="null"/>: every exception (timeouts included) except cancellation by the bus.</value>
    public Func<Exception, bool>? ShouldRetry { get; init; }

    /// <summary>A policy of <paramref name="maxAttempts"/> attempts with <paramref name="delay"/> between them, growing exponentially with jitter.</summary>
    /// <param name="maxAttempts">Total attempts, the first included.</param>
    /// <param name="delay">The base delay.</param>
    /// <returns>The policy.</returns>
    public static RetryPolicy Exponential(int maxAttempts, TimeSpan delay) => new() { MaxAttempts = maxAttempts, Delay = delay };

    /// <summary>A policy of <paramref name="maxAttempts"/> attempts with the same <paramref name="delay"/> between them (<see cref="RetryBackoff.Constant"/>) and no jitter.</summary>
    /// <param name="maxAttempts">Total attempts, the first included.</param>
    /// <param name="delay">The delay.</param>
    /// <returns>The policy.</returns>
    public static RetryPolicy Constant(int maxAttempts, TimeSpan delay) => new() { MaxAttempts = maxAttempts, Delay = delay, Backoff = RetryBackoff.Constant, UseJitter = false };

    internal void Validate()
    {
        if (MaxAttempts < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxAttempts), MaxAttempts, $"RetryPolicy.MaxAttempts must be at least 1 (was {MaxAttempts}).");
        if (Delay < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(Delay), Delay, $"RetryPolicy.Delay must not be negative (was {Delay}).");
        if (MaxDelay < Delay)
            throw new ArgumentOutOfRangeException(nameof(MaxDelay), MaxDelay, $"RetryPolicy.MaxDelay must be at least RetryPolicy.Delay (was {MaxDelay}).");
        if (!Enum.IsDefined(Backoff))
            throw new ArgumentOutOfRangeException(nameof(Backoff), Backoff, $"RetryPolicy.Backoff has an unknown value {(int)Backoff}.");
    }
}

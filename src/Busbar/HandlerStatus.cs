namespace Busbar;

/// <summary>The result of one handler invocation.</summary>
public enum HandlerStatus
{
    /// <summary>The handler returned normally.</summary>
    Succeeded,

    /// <summary>The handler threw on its last attempt.</summary>
    Failed,

    /// <summary>The handler exceeded its timeout or the event deadline.</summary>
    TimedOut,

    /// <summary>The handler was cancelled (bus stopping, or another handler won in <see cref="CompletionMode.First"/>).</summary>
    Cancelled,

    /// <summary>The handler did not run (its filter declined, a middleware did not call <c>next</c>, or the event completed before its turn).</summary>
    Skipped,
}

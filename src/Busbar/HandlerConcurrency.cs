namespace Busbar;

/// <summary>How handlers of equal subscription priority (one tier) run for one event.</summary>
public enum HandlerConcurrency
{
    /// <summary>One after another, in registration order.</summary>
    Serial,

    /// <summary>All at once; the tier ends when every handler has finished.</summary>
    Parallel,
}

namespace Busbar;

/// <summary>How the delay grows between retry attempts.</summary>
public enum RetryBackoff
{
    /// <summary>The same delay every time.</summary>
    Constant,

    /// <summary>The delay grows linearly: delay, 2×delay, 3×delay…</summary>
    Linear,

    /// <summary>The delay doubles every attempt.</summary>
    Exponential,
}

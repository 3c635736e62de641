namespace Busbar;

/// <summary>Recorded for a handler attempt that exceeded its timeout or the event deadline.</summary>
public sealed class HandlerTimeoutException : TimeoutException
{
    /// <summary>Creates the exception.</summary>
    public HandlerTimeoutException() : base("The handler timed out.") { }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">The message.</param>
    public HandlerTimeoutException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public HandlerTimeoutException(string message, Exception innerException) : base(message, innerException) { }
}

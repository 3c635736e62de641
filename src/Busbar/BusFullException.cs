namespace Busbar;

/// <summary>Thrown by a publish when the queue is full and the bus refuses the event.</summary>
public sealed class BusFullException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public BusFullException() : base("The bus queue is full.") { }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">The message.</param>
    public BusFullException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public BusFullException(string message, Exception innerException) : base(message, innerException) { }
}

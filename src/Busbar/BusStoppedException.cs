namespace Busbar;

/// <summary>Thrown by a publish or subscribe once the bus is stopping or stopped.</summary>
public sealed class BusStoppedException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public BusStoppedException() : base("The bus is stopped and accepts no more events.") { }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">The message.</param>
    public BusStoppedException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public BusStoppedException(string message, Exception innerException) : base(message, innerException) { }
}

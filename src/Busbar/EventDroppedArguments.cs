namespace Busbar;

/// <summary>Describes an event that the full queue dropped or refused.</summary>
public readonly struct EventDroppedArguments
{
    internal EventDroppedArguments(EventContext context, EventStatus status)
    {
        Context = context;
        Status = status;
    }

    /// <summary>The dropped or refused event.</summary>
    public EventContext Context { get; }

    /// <summary><see cref="EventStatus.Dropped"/> or <see cref="EventStatus.Rejected"/>.</summary>
    public EventStatus Status { get; }
}

namespace Busbar;

/// <summary>Describes an event the bus shed: dropped from, or refused by, a full (or closing) queue, so no handler runs it.</summary>
/// <remarks>"Shed" is the one word for both outcomes; <see cref="Status"/> says which one.</remarks>
public readonly struct EventShedArguments
{
    internal EventShedArguments(EventContext context, EventStatus status)
    {
        Context = context;
        Status = status;
    }

    /// <summary>The shed event.</summary>
    public EventContext Context { get; }

    /// <summary><see cref="EventStatus.Dropped"/> (evicted or not queued by a drop mode) or <see cref="EventStatus.Rejected"/> (refused at publish).</summary>
    public EventStatus Status { get; }
}

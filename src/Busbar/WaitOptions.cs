namespace Busbar;

/// <summary>Options of <see cref="IEventBus.WaitForAsync{T}"/>.</summary>
public sealed record WaitOptions
{
    /// <summary>How far back in history to look for an event that already happened.</summary>
    /// <value>Default <see langword="null"/>: the whole bounded history. <see cref="TimeSpan.Zero"/> looks only forward.</value>
    public TimeSpan? LookBack { get; init; }

    /// <summary>Only events caused (directly or further down the chain) by this event id.</summary>
    /// <value>Default <see langword="null"/>: any event.</value>
    public Guid? ChildOf { get; init; }
}

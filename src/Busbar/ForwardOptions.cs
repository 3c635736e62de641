namespace Busbar;

/// <summary>Options of <see cref="IEventBus.ForwardTo"/>.</summary>
public sealed record ForwardOptions
{
    /// <summary>The forwarding handler waits until the target bus has handled the event, so awaiting the original waits for both.</summary>
    /// <value>Default <see langword="false"/>: forwarding ends once the target admitted the event.</value>
    public bool WaitForTarget { get; init; }

    /// <summary>The forwarding subscription's name.</summary>
    /// <value>Default <see langword="null"/>: <c>forward:{target}:{pattern}</c>.</value>
    public string? Name { get; init; }
}

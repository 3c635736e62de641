namespace Busbar;

/// <summary>Creates buses.</summary>
public static class EventBus
{
    /// <summary>Builds and starts a bus with <paramref name="options"/> (defaults when null).</summary>
    /// <param name="options">The options.</param>
    /// <returns>The bus.</returns>
    public static IEventBus Create(EventBusOptions? options = null) =>
        new EventBusBuilder().WithOptions(options ?? new EventBusOptions()).Build();
}

using Busbar;
using Busbar.Hosting;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Busbar buses, handler classes and their hosted lifecycle.</summary>
public static class BusbarServiceCollectionExtensions
{
    /// <summary>
    /// Registers the default bus (resolved as <see cref="IEventBus"/>), configured from section
    /// <c>Busbar</c>, and a hosted service that starts it with the host and drains it on shutdown.
    /// Calling it again configures the same bus. A class can also take an <see cref="EventSender{T}"/> of the default bus
    /// (one singleton per event type) for its hot paths.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Adds handlers and adjusts options.</param>
    /// <returns>The bus builder.</returns>
    public static BusbarBuilder AddBusbar(this IServiceCollection services, Action<BusbarBuilder>? configure = null) =>
        AddBus(services, null, configure);

    /// <summary>
    /// Registers a named bus, resolved as a keyed <see cref="IEventBus"/> with key <paramref name="name"/>
    /// and configured from section <c>Busbar:{name}</c>. Calling it again with the same name configures the same bus.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The bus name and DI key.</param>
    /// <param name="configure">Adds handlers and adjusts options.</param>
    /// <returns>The bus builder.</returns>
    public static BusbarBuilder AddBusbar(this IServiceCollection services, string name, Action<BusbarBuilder>? configure = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return AddBus(services, name, configure);
    }

    private static BusbarBuilder AddBus(IServiceCollection services, string? name, Action<BusbarBuilder>? configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        var registry = FindRegistry(services);
        if (registry is null)
        {
            registry = new BusRegistry();
            services.AddSingleton(registry);
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, BusbarHostedService>());
        }

        var registration = registry.Buses.Find(r => r.Name == name);
        if (registration is null)
        {
            registration = new BusRegistration(name);
            registry.Buses.Add(registration);
            if (name is null)
            {
                services.AddSingleton(registration.Create);
                // A class can take EventSender<OrderPlaced> (the default bus's): one singleton per event type.
                services.TryAddSingleton(typeof(EventSender<>));
            }
            else
                services.AddKeyedSingleton(name, (sp, _) => registration.Create(sp));
        }

        var builder = new BusbarBuilder(services, registration);
        configure?.Invoke(builder);
        return builder;
    }

    private static BusRegistry? FindRegistry(IServiceCollection services)
    {
        foreach (var descriptor in services)
        {
            if (descriptor.ServiceType == typeof(BusRegistry) && !descriptor.IsKeyedService && descriptor.ImplementationInstance is BusRegistry registry)
                return registry;
        }

        return null;
    }
}

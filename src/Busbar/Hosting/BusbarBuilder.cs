using System.Diagnostics.CodeAnalysis;
using Busbar.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace Busbar.Hosting;

/// <summary>Configures one bus registered with <c>services.AddBusbar(…)</c>: options, handler classes, health check.</summary>
/// <remarks>
/// Options are read from configuration section <c>Busbar</c> (default bus) or <c>Busbar:{name}</c>
/// (named bus) when an <c>IConfiguration</c> is registered, then <see cref="Configure"/> callbacks
/// run in order; the result is validated when the host starts, and an invalid value fails the start
/// with an <c>OptionsValidationException</c> naming the option.
/// </remarks>
public sealed class BusbarBuilder
{
    private readonly BusRegistration _registration;

    internal BusbarBuilder(IServiceCollection services, BusRegistration registration)
    {
        Services = services;
        _registration = registration;
    }

    /// <summary>The service collection the bus is registered in.</summary>
    public IServiceCollection Services { get; }

    /// <summary>The bus name and DI key, or <see langword="null"/> for the default bus (resolved as plain <see cref="IEventBus"/>).</summary>
    public string? Name => _registration.Name;

    /// <summary>Adjusts the options after they were read from configuration, e.g. <c>o => o with { Capacity = 1_000 }</c>.</summary>
    /// <param name="configure">Returns the options to use.</param>
    /// <returns>This builder.</returns>
    public BusbarBuilder Configure(Func<EventBusOptions, EventBusOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        _registration.OptionsConfigurations.Add(configure);
        return this;
    }

    /// <summary>Configures the <see cref="EventBusBuilder"/> (validators, payload logging) with access to services.</summary>
    /// <param name="configure">Called once when the bus is built; time provider and logger factory are already set from DI.</param>
    /// <returns>This builder.</returns>
    public BusbarBuilder ConfigureBus(Action<IServiceProvider, EventBusBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        _registration.BuilderConfigurations.Add(configure);
        return this;
    }

    /// <summary>
    /// Subscribes handler class <typeparamref name="THandler"/> to <typeparamref name="T"/> (and every
    /// type assignable to it). The handler is registered as scoped (unless already registered) and
    /// resolved from a new DI scope for every invocation.
    /// </summary>
    /// <typeparam name="T">The event type.</typeparam>
    /// <typeparam name="THandler">The handler class.</typeparam>
    /// <param name="options">Subscription options; <see cref="SubscriptionOptions.Name"/> defaults to the handler's type name.</param>
    /// <returns>This builder.</returns>
    public BusbarBuilder AddHandler<T, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] THandler>(SubscriptionOptions? options = null)
        where THandler : class, IEventHandler<T>
    {
        Services.TryAddScoped<THandler>();
        var subscription = options?.Name is null ? (options ?? new SubscriptionOptions()) with { Name = typeof(THandler).Name } : options;
        _registration.Subscriptions.Add((bus, services) =>
        {
            var handler = new ScopedEventHandler<T, THandler>(
                services.GetRequiredService<IServiceScopeFactory>(),
                services.GetService<ILoggerFactory>()?.CreateLogger("Busbar"),
                subscription.Name!);
            bus.Subscribe<T>(handler.HandleAsync, subscription);
        });
        return this;
    }

    /// <summary>
    /// Registers a <see cref="BusbarHealthCheck"/> for this bus as a singleton (keyed by the bus name
    /// for a named bus). Add it to the health checks with
    /// <c>services.AddHealthChecks().AddCheck&lt;BusbarHealthCheck&gt;("busbar")</c>, or for a named bus
    /// <c>.Add(new HealthCheckRegistration(name, sp =&gt; sp.GetRequiredKeyedService&lt;BusbarHealthCheck&gt;(busName), null, null))</c>.
    /// </summary>
    /// <param name="options">Thresholds; defaults when <see langword="null"/>.</param>
    /// <returns>This builder.</returns>
    public BusbarBuilder AddHealthCheck(BusbarHealthCheckOptions? options = null)
    {
        var registration = _registration;
        if (registration.Name is null)
            Services.TryAddSingleton(sp => new BusbarHealthCheck(registration.Resolve(sp), options, sp.GetService<TimeProvider>()));
        else
            Services.TryAddKeyedSingleton(registration.Name, (sp, _) => new BusbarHealthCheck(registration.Resolve(sp), options, sp.GetService<TimeProvider>()));
        return this;
    }
}

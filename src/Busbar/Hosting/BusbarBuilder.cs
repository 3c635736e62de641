using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using Busbar.Diagnostics;
using Busbar.Dispatch;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
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
    /// <param name="options">
    /// Subscription options. <see cref="SubscriptionOptions.Name"/> defaults to the handler class's full name
    /// (<c>MyApp.Billing.AuditHandler</c>), or, for a class that handles several event types, to the full name and the event
    /// type's name (<c>MyApp.Billing.AuditHandler&lt;OrderPlaced&gt;</c>): the name <c>bus.Subscribe(new AuditHandler())</c>
    /// gives too. A second <c>AddHandler</c> of the same class for the same event type gets the same name, so building the bus
    /// throws the duplicate-name <see cref="ArgumentException"/>: give one of them a <see cref="SubscriptionOptions.Name"/>.
    /// </param>
    /// <returns>This builder.</returns>
    public BusbarBuilder AddHandler<T, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors | DynamicallyAccessedMemberTypes.Interfaces)] THandler>(SubscriptionOptions? options = null)
        where THandler : class, IEventHandler<T>
    {
        Services.TryAddScoped<THandler>();
        var subscription = options?.Name is null ? (options ?? new SubscriptionOptions()) with { Name = SubscriptionNames.ForHandlerClass(typeof(THandler), typeof(T)) } : options;
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
    /// Adds middleware class <typeparamref name="TMiddleware"/> around every handler invocation of this bus (see
    /// <see cref="IEventMiddleware"/>). It is registered as scoped (unless already registered) and resolved for every
    /// invocation from the invocation's DI scope, the one the handler class is resolved from too.
    /// </summary>
    /// <typeparam name="TMiddleware">The middleware class.</typeparam>
    /// <returns>This builder.</returns>
    /// <remarks>
    /// Middlewares run in the order they are added (the first outermost), together with those added by
    /// <see cref="ConfigureBus"/> through <see cref="EventBusBuilder.Use(IEventMiddleware)"/>, in the order of the calls.
    /// The first DI middleware of an invocation opens its scope and disposes it when the rest of the pipeline (the handler
    /// included) has ended; later DI middlewares and a handler added with <see cref="AddHandler{T, THandler}"/> share it.
    /// Each attempt of a retried handler gets a new scope.
    /// </remarks>
    public BusbarBuilder AddMiddleware<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TMiddleware>()
        where TMiddleware : class, IEventMiddleware
    {
        Services.TryAddScoped<TMiddleware>();
        _registration.BuilderConfigurations.Add(static (services, bus) =>
            bus.Use(new ScopedMiddleware<TMiddleware>(services.GetRequiredService<IServiceScopeFactory>())));
        return this;
    }

    /// <summary>
    /// Adds middleware class <typeparamref name="TMiddleware"/> around the handler invocations of events assignable to
    /// <typeparamref name="T"/>; otherwise as <see cref="AddMiddleware{TMiddleware}"/>.
    /// </summary>
    /// <typeparam name="T">The event type (a class, a base type or an interface) it applies to.</typeparam>
    /// <typeparam name="TMiddleware">The middleware class.</typeparam>
    /// <returns>This builder.</returns>
    public BusbarBuilder AddMiddleware<T, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TMiddleware>()
        where TMiddleware : class, IEventMiddleware<T>
    {
        Services.TryAddScoped<TMiddleware>();
        _registration.BuilderConfigurations.Add(static (services, bus) =>
            bus.Use(new ScopedMiddleware<T, TMiddleware>(services.GetRequiredService<IServiceScopeFactory>())));
        return this;
    }

    /// <summary>
    /// Subscribes every handler class of <paramref name="assembly"/>: each non-abstract, non-generic
    /// class implementing <see cref="IEventHandler{T}"/>, once per event type it handles, exactly as
    /// <see cref="AddHandler{T, THandler}"/> would (scoped, a DI scope per invocation, subscription
    /// named after the class). Classes are subscribed in the order of their full names.
    /// </summary>
    /// <param name="assembly">The assembly to scan, e.g. <c>typeof(Program).Assembly</c>.</param>
    /// <param name="predicate">Keeps only the handler classes it returns <see langword="true"/> for (e.g. one namespace); every one when <see langword="null"/>.</param>
    /// <returns>This builder.</returns>
    /// <remarks>
    /// Scanning reads types by reflection and closes <see cref="AddHandler{T, THandler}"/> over them at run time,
    /// which neither trimming nor Native AOT can follow. Under <c>PublishTrimmed</c> or <c>PublishAot</c>, call
    /// <see cref="AddHandler{T, THandler}"/> once per handler instead: it is checked at compile time and
    /// registers the same subscriptions.
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="assembly"/> is <see langword="null"/>.</exception>
    [RequiresUnreferencedCode("Finds handler classes by reflection; trimming may remove them or their constructors. Call AddHandler<T, THandler>() for each handler instead.")]
    [RequiresDynamicCode("Closes AddHandler<T, THandler>() over types found at run time. Call AddHandler<T, THandler>() for each handler instead.")]
    public BusbarBuilder AddHandlersFromAssembly(Assembly assembly, Func<Type, bool>? predicate = null)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        var found = new List<(Type Event, Type Handler)>();
        foreach (var type in LoadableTypes(assembly))
        {
            if (!type.IsClass || type.IsAbstract || type.ContainsGenericParameters)
                continue;
            if (predicate is not null && !predicate(type))
                continue;
            foreach (var contract in type.GetInterfaces())
            {
                if (contract.IsGenericType && contract.GetGenericTypeDefinition() == typeof(IEventHandler<>))
                    found.Add((contract.GetGenericArguments()[0], type));
            }
        }

        // Subscription order decides handler order within a priority: make it independent of metadata order.
        found.Sort(static (a, b) =>
        {
            var byHandler = string.CompareOrdinal(a.Handler.FullName, b.Handler.FullName);
            return byHandler != 0 ? byHandler : string.CompareOrdinal(a.Event.FullName, b.Event.FullName);
        });
        var addHandler = typeof(BusbarBuilder).GetMethod(nameof(AddHandler), BindingFlags.Public | BindingFlags.Instance)!;
        foreach (var (eventType, handlerType) in found)
            addHandler.MakeGenericMethod(eventType, handlerType).Invoke(this, [null]);
        return this;
    }

    /// <summary>
    /// Subscribes every handler class of the assembly that defines <typeparamref name="TMarker"/>; see
    /// <see cref="AddHandlersFromAssembly(Assembly, Func{Type, bool})"/>.
    /// </summary>
    /// <typeparam name="TMarker">Any type of the assembly to scan, e.g. <c>Program</c>.</typeparam>
    /// <param name="predicate">Keeps only the handler classes it returns <see langword="true"/> for; every one when <see langword="null"/>.</param>
    /// <returns>This builder.</returns>
    [RequiresUnreferencedCode("Finds handler classes by reflection; trimming may remove them or their constructors. Call AddHandler<T, THandler>() for each handler instead.")]
    [RequiresDynamicCode("Closes AddHandler<T, THandler>() over types found at run time. Call AddHandler<T, THandler>() for each handler instead.")]
    public BusbarBuilder AddHandlersFromAssemblyContaining<TMarker>(Func<Type, bool>? predicate = null) =>
        AddHandlersFromAssembly(typeof(TMarker).Assembly, predicate);

    [RequiresUnreferencedCode("Reads an assembly's types.")]
    private static IEnumerable<Type> LoadableTypes(Assembly assembly)
    {
        try
        {
            return assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException ex)
        {
            // A type whose dependency is missing cannot be a handler we could resolve; keep the others.
            var loaded = new List<Type>(ex.Types.Length);
            foreach (var type in ex.Types)
            {
                if (type is not null)
                    loaded.Add(type);
            }

            return loaded;
        }
    }

    /// <summary>
    /// Registers a <see cref="BusbarHealthCheck"/> for this bus as a singleton (keyed by the bus name
    /// for a named bus) and adds it to the host's health checks (<c>services.AddHealthChecks()</c>) under
    /// <see cref="BusbarHealthCheckOptions.RegistrationName"/> with <see cref="BusbarHealthCheckOptions.Tags"/>,
    /// so <c>MapHealthChecks</c> or <c>HealthCheckService</c> report it with no further call.
    /// </summary>
    /// <param name="options">Thresholds, registration name and tags; defaults when <see langword="null"/>.</param>
    /// <returns>This builder.</returns>
    /// <remarks>Calling it again for the same bus changes nothing: the first call's options stay.</remarks>
    /// <exception cref="ArgumentOutOfRangeException">An option is invalid; the message names it.</exception>
    public BusbarBuilder AddHealthCheck(BusbarHealthCheckOptions? options = null)
    {
        options ??= new BusbarHealthCheckOptions();
        options.Validate();
        var registration = _registration;
        if (registration.HealthCheckAdded)
            return this;
        registration.HealthCheckAdded = true;
        Func<IServiceProvider, IHealthCheck> resolve;
        if (registration.Name is null)
        {
            Services.TryAddSingleton(sp => new BusbarHealthCheck(registration.Resolve(sp), options, sp.GetService<TimeProvider>()));
            resolve = static sp => sp.GetRequiredService<BusbarHealthCheck>();
        }
        else
        {
            var key = registration.Name;
            Services.TryAddKeyedSingleton(key, (sp, _) => new BusbarHealthCheck(registration.Resolve(sp), options, sp.GetService<TimeProvider>()));
            resolve = sp => sp.GetRequiredKeyedService<BusbarHealthCheck>(key);
        }

        var name = options.RegistrationName ?? (registration.Name is null ? "busbar" : $"busbar-{registration.Name}");
        Services.AddHealthChecks().Add(new HealthCheckRegistration(name, resolve, failureStatus: null, tags: options.Tags));
        return this;
    }
}

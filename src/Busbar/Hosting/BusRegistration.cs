using Busbar.Dispatch;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Busbar.Hosting;

/// <summary>Everything <c>AddBusbar</c> said about one bus; builds it from the service provider.</summary>
internal sealed class BusRegistration(string? name)
{
    public const string SectionName = "Busbar";

    /// <summary>The bus name for a named bus (its DI key); null for the default bus.</summary>
    public string? Name { get; } = name;

    public string SectionPath => Name is null ? SectionName : $"{SectionName}:{Name}";

    public List<Func<EventBusOptions, EventBusOptions>> OptionsConfigurations { get; } = [];

    public List<Action<IServiceProvider, EventBusBuilder>> BuilderConfigurations { get; } = [];

    public List<Action<IEventBus, IServiceProvider>> Subscriptions { get; } = [];

    /// <summary>AddHealthCheck ran for this bus: a second registration under the same name would fail the health-check service.</summary>
    public bool HealthCheckAdded { get; set; }

    public IEventBus Resolve(IServiceProvider services) =>
        Name is null ? services.GetRequiredService<IEventBus>() : services.GetRequiredKeyedService<IEventBus>(Name);

    public IEventBus Create(IServiceProvider services)
    {
        var optionsName = Name ?? Microsoft.Extensions.Options.Options.DefaultName;
        var options = new EventBusOptions();
        if (services.GetService<IConfiguration>() is { } configuration)
            options = EventBusOptionsBinder.Bind(configuration.GetSection(SectionPath), options, optionsName);
        foreach (var configure in OptionsConfigurations)
            options = configure(options);
        if (Name is not null && options.Name is null)
            options = options with { Name = Name };

        var builder = new EventBusBuilder()
            .WithOptions(options)
            .WithTimeProvider(services.GetService<TimeProvider>() ?? TimeProvider.System);
        if (services.GetService<ILoggerFactory>() is { } loggerFactory)
            builder.WithLoggerFactory(loggerFactory);
        foreach (var configure in BuilderConfigurations)
            configure(services, builder);

        IEventBus bus;
        try
        {
            bus = builder.Build();
        }
        catch (ArgumentException ex)
        {
            // EventBusOptions.Validate names the option; say which bus and where its settings come from.
            throw new OptionsValidationException(optionsName, typeof(EventBusOptions), [$"Bus '{Name ?? "(default)"}' (configuration section '{SectionPath}'): {ex.Message}"]);
        }

        try
        {
            foreach (var subscribe in Subscriptions)
                subscribe(bus, services);
        }
        catch
        {
            // The bus is nobody's yet: release its workers and its write-ahead log's lock before the error surfaces.
            bus.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }

        return bus;
    }
}

/// <summary>The buses registered in one service collection, found again by later <c>AddBusbar</c> calls.</summary>
internal sealed class BusRegistry
{
    public List<BusRegistration> Buses { get; } = [];
}

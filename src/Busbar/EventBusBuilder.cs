using System.ComponentModel.DataAnnotations;
using System.Diagnostics.CodeAnalysis;
using Busbar.Dispatch;
using Microsoft.Extensions.Logging;

namespace Busbar;

/// <summary>Configures and builds a bus: options, time, logging, validation.</summary>
public sealed class EventBusBuilder
{
    private readonly List<BusValidation.Registration> _validators = [];
    private EventBusOptions _options = new();
    private TimeProvider _timeProvider = TimeProvider.System;
    private ILoggerFactory? _loggerFactory;
    private bool _dataAnnotations;

    /// <summary>Sets the bus options.</summary>
    /// <param name="options">The options; validated by <see cref="Build"/>.</param>
    /// <returns>This builder.</returns>
    public EventBusBuilder WithOptions(EventBusOptions options)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        return this;
    }

    /// <summary>Sets the clock used for timestamps, timeouts, deadlines and retry delays.</summary>
    /// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> by default.</param>
    /// <returns>This builder.</returns>
    public EventBusBuilder WithTimeProvider(TimeProvider timeProvider)
    {
        _timeProvider = timeProvider ?? throw new ArgumentNullException(nameof(timeProvider));
        return this;
    }

    /// <summary>Sets where the bus logs (category <c>Busbar</c>).</summary>
    /// <param name="loggerFactory">The logger factory; none by default.</param>
    /// <returns>This builder.</returns>
    public EventBusBuilder WithLoggerFactory(ILoggerFactory loggerFactory)
    {
        _loggerFactory = loggerFactory ?? throw new ArgumentNullException(nameof(loggerFactory));
        return this;
    }

    /// <summary>Validates events of type <typeparamref name="T"/> (and subtypes) at publish.</summary>
    /// <typeparam name="T">The event type.</typeparam>
    /// <param name="validator">The validator.</param>
    /// <returns>This builder.</returns>
    public EventBusBuilder AddValidator<T>(IEventValidator<T> validator)
    {
        ArgumentNullException.ThrowIfNull(validator);
        _validators.Add(new BusValidation.Registration(typeof(T), (e, errors) => validator.Validate((T)e, errors)));
        return this;
    }

    /// <summary>Validates every event with DataAnnotations attributes and <see cref="IValidatableObject"/> at publish.</summary>
    /// <returns>This builder.</returns>
    /// <remarks>Uses reflection over the event's properties; not trimming-safe.</remarks>
    [RequiresUnreferencedCode("DataAnnotations validation reflects over event properties.")]
    public EventBusBuilder UseDataAnnotations()
    {
        _dataAnnotations = true;
        return this;
    }

    /// <summary>Builds and starts the bus.</summary>
    /// <returns>The bus.</returns>
    /// <exception cref="ArgumentException">An option is invalid; the message names it.</exception>
    public IEventBus Build() =>
        new InProcessEventBus(_options, _timeProvider, _loggerFactory, new BusValidation([.. _validators], _dataAnnotations));
}

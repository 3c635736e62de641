using System.ComponentModel.DataAnnotations;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Busbar.Diagnostics;
using Busbar.Dispatch;
using Microsoft.Extensions.Compliance.Redaction;
using Microsoft.Extensions.Logging;

namespace Busbar;

/// <summary>Configures and builds a bus: options, time, logging, validation, middleware.</summary>
public sealed partial class EventBusBuilder
{
    private readonly List<BusValidation.Registration> _validators = [];
    private EventBusOptions _options = new();
    private TimeProvider _timeProvider = TimeProvider.System;
    private ILoggerFactory? _loggerFactory;
    private bool _dataAnnotations;
    private readonly List<Type> _knownTypes = [];
    private Durability.DurabilitySetup? _durability;
    private PayloadFormatter? _payloads;

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

    /// <summary>Logs event payloads as JSON, with classified members redacted.</summary>
    /// <param name="jsonOptions">How payloads are serialized; its <see cref="JsonSerializerOptions.TypeInfoResolver"/> must be set (a <c>JsonSerializerContext</c> keeps this trimming- and AOT-safe).</param>
    /// <param name="redactorProvider">Redacts members carrying a <c>DataClassificationAttribute</c>; <see langword="null"/> erases them.</param>
    /// <returns>This builder.</returns>
    /// <remarks>
    /// Off by default: payloads are never logged unless this is called. Payloads are written at
    /// <c>Debug</c> when an event is published and at <c>Error</c> beside a handler failure, inside the
    /// event's logging scope. Only string members can carry a redacted text; classified members of
    /// other types are left out. Members that are not classified are logged in clear: classify
    /// every personal or sensitive member.
    /// </remarks>
    /// <exception cref="ArgumentException"><paramref name="jsonOptions"/> has no type info resolver.</exception>
    public EventBusBuilder LogPayloads(JsonSerializerOptions jsonOptions, IRedactorProvider? redactorProvider = null)
    {
        _payloads = new PayloadFormatter(jsonOptions, redactorProvider);
        return this;
    }

    /// <summary>Logs event payloads as JSON through reflection, with classified members redacted; see <see cref="LogPayloads(JsonSerializerOptions, IRedactorProvider?)"/>.</summary>
    /// <param name="redactorProvider">Redacts members carrying a <c>DataClassificationAttribute</c>; <see langword="null"/> erases them.</param>
    /// <returns>This builder.</returns>
    [RequiresUnreferencedCode("Serializes payloads with reflection; pass JsonSerializerOptions with a JsonSerializerContext instead.")]
    [RequiresDynamicCode("Serializes payloads with reflection; pass JsonSerializerOptions with a JsonSerializerContext instead.")]
    public EventBusBuilder LogPayloads(IRedactorProvider? redactorProvider = null) =>
        LogPayloads(new JsonSerializerOptions { TypeInfoResolver = new DefaultJsonTypeInfoResolver() }, redactorProvider);

    /// <summary>
    /// Makes the bus durable on this machine: every published event is appended to a write-ahead log
    /// in <paramref name="directory"/> before it is admitted, handler completion is recorded, and
    /// pending events are re-dispatched after a restart once its named subscriptions are registered.
    /// </summary>
    /// <param name="directory">The log directory; created if missing. One bus or process at a time (a lock file enforces it).</param>
    /// <param name="serializerOptions">How payloads are serialized. Give a source-generated <c>JsonSerializerContext</c> as the type resolver for trimming and AOT.</param>
    /// <param name="options">Flush mode and segment sizes; defaults to <see cref="WalFlushMode.Always"/>.</param>
    /// <returns>This builder.</returns>
    /// <remarks>
    /// Every subscription of a durable bus needs <see cref="SubscriptionOptions.Name"/>. Event types that only
    /// pattern or interface subscriptions receive must be registered with <see cref="RegisterEvent{T}"/> so that
    /// recovered events can be read back.
    /// </remarks>
    public EventBusBuilder UseWriteAheadLog(string directory, JsonSerializerOptions serializerOptions, WriteAheadLogOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(serializerOptions);
        options ??= new WriteAheadLogOptions();
        options.Validate();
        if (serializerOptions.TypeInfoResolver is null)
            throw new ArgumentException("The JsonSerializerOptions for the write-ahead log need a TypeInfoResolver (a source-generated JsonSerializerContext, or DefaultJsonTypeInfoResolver).", nameof(serializerOptions));
        serializerOptions.MakeReadOnly();
        _durability = new Durability.DurabilitySetup(directory, options, serializerOptions, _knownTypes);
        return this;
    }

    /// <summary>Makes the bus durable with reflection-based JSON serialization of payloads; see the other overload.</summary>
    /// <param name="directory">The log directory.</param>
    /// <param name="options">Flush mode and segment sizes.</param>
    /// <returns>This builder.</returns>
    [RequiresUnreferencedCode("Reflection-based JSON serialization of event payloads; pass a source-generated JsonSerializerOptions for trimming.")]
    [RequiresDynamicCode("Reflection-based JSON serialization of event payloads; pass a source-generated JsonSerializerOptions for AOT.")]
    public EventBusBuilder UseWriteAheadLog(string directory, WriteAheadLogOptions? options = null) =>
        UseWriteAheadLog(directory, new JsonSerializerOptions(JsonSerializerDefaults.General) { TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver() }, options);

    /// <summary>Registers an event type by its name, so the bus can read it back from the write-ahead log.</summary>
    /// <typeparam name="T">A concrete event type.</typeparam>
    /// <returns>This builder.</returns>
    /// <remarks>Types subscribed to directly, and types published since start, are registered automatically.</remarks>
    public EventBusBuilder RegisterEvent<T>()
    {
        _knownTypes.Add(typeof(T));
        return this;
    }

    /// <summary>Builds and starts the bus.</summary>
    /// <returns>The bus.</returns>
    /// <exception cref="ArgumentException">An option is invalid; the message names it.</exception>
    public IEventBus Build()
    {
        var bus = new InProcessEventBus(_options, _timeProvider, _loggerFactory, new BusValidation([.. _validators], _dataAnnotations), _durability, Engine.MiddlewarePipeline.Create(_middlewares));
        bus.EventLogger.Payloads = _payloads;
        if (_transport is not null)
            bus.AttachTransport(_transport, _loggerFactory);
        return bus;
    }
}

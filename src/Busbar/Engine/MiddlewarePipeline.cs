using System.Collections.Concurrent;

namespace Busbar.Engine;

/// <summary>
/// The middlewares of a bus, composed into one <see cref="HandlerDelegate"/> per event type that ends by calling the
/// handler. Each type's pipeline holds only the middlewares that apply to it (every untyped one, and the typed ones
/// whose type the event is assignable to) and is composed once, the first time an event of that type is dispatched:
/// running it allocates nothing beyond what the middlewares allocate, and an event type no middleware applies to has
/// no pipeline, so its handlers keep the synchronous fast path.
/// </summary>
internal sealed class MiddlewarePipeline
{
    private readonly Registration[] _registrations;
    private readonly ConcurrentDictionary<Type, HandlerDelegate?> _byEventType = new();

    private MiddlewarePipeline(Registration[] registrations) => _registrations = registrations;

    /// <summary>One middleware: the event type it applies to (<see langword="null"/> for every event) and how it wraps the rest of the pipeline.</summary>
    internal readonly record struct Registration(Type? EventType, Func<HandlerDelegate, HandlerDelegate> Wrap);

    /// <summary>Holds <paramref name="registrations"/>, the first outermost; <see langword="null"/> when there are none.</summary>
    public static MiddlewarePipeline? Create(IReadOnlyList<Registration> registrations) =>
        registrations.Count == 0 ? null : new MiddlewarePipeline([.. registrations]);

    /// <summary>The pipeline for events of runtime type <paramref name="eventType"/>, or <see langword="null"/> when no middleware applies to it.</summary>
    public HandlerDelegate? For(Type eventType) =>
        _byEventType.GetOrAdd(eventType, static (type, registrations) => Compose(type, registrations), _registrations);

    private static HandlerDelegate? Compose(Type eventType, Registration[] registrations)
    {
        HandlerDelegate? pipeline = null;
        for (var i = registrations.Length - 1; i >= 0; i--)
        {
            var registration = registrations[i];
            if (registration.EventType is { } type && !type.IsAssignableFrom(eventType))
                continue;
            pipeline = registration.Wrap(pipeline ?? HandlerInvocation.CallHandler);
        }

        return pipeline;
    }

    public static Registration For(IEventMiddleware middleware) =>
        new(null, next => invocation => middleware.InvokeAsync(invocation, next));

    public static Registration For<T>(IEventMiddleware<T> middleware) =>
        new(typeof(T), next => invocation => middleware.InvokeAsync((T)invocation.Event, invocation, next));

    public static Registration For(Func<HandlerInvocation, HandlerDelegate, ValueTask> middleware) =>
        new(null, next => invocation => middleware(invocation, next));

    public static Registration For<T>(Func<T, HandlerInvocation, HandlerDelegate, ValueTask> middleware) =>
        new(typeof(T), next => invocation => middleware((T)invocation.Event, invocation, next));
}

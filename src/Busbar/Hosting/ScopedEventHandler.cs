using System.Diagnostics.CodeAnalysis;
using Busbar.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Busbar.Hosting;

/// <summary>
/// Runs a DI handler class: a new service scope per invocation (so scoped dependencies such as a
/// DbContext are never shared between events), the handler resolved from it, and a logging scope
/// carrying the event's ids around the call so the handler's own logs are correlated too. When a DI
/// middleware already opened the invocation's scope (<see cref="ScopedMiddleware{TMiddleware}"/>), the
/// handler is resolved from that one instead, so middlewares and handler share scoped services.
/// </summary>
internal sealed class ScopedEventHandler<T, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] THandler>(
    IServiceScopeFactory scopes, ILogger? logger, string subscription)
    where THandler : class, IEventHandler<T>
{
    public ValueTask HandleAsync(T @event, EventContext context, CancellationToken cancellationToken)
    {
        // Read before anything awaits: the invocation is visible only during the handler's synchronous start.
        if (HandlerInvocation.Calling is { Services: { } services } invocation && ReferenceEquals(invocation.Context, context))
            return HandleInScopeAsync(services, @event, context, cancellationToken);
        return HandleInOwnScopeAsync(@event, context, cancellationToken);
    }

    private async ValueTask HandleInScopeAsync(IServiceProvider services, T @event, EventContext context, CancellationToken cancellationToken)
    {
        using var logScope = logger?.BeginScope(new EventLogScope(context, subscription));
        await services.GetRequiredService<THandler>().HandleAsync(@event, context, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask HandleInOwnScopeAsync(T @event, EventContext context, CancellationToken cancellationToken)
    {
        using var logScope = logger?.BeginScope(new EventLogScope(context, subscription));
        var scope = scopes.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            var handler = scope.ServiceProvider.GetRequiredService<THandler>();
            await handler.HandleAsync(@event, context, cancellationToken).ConfigureAwait(false);
        }
    }
}

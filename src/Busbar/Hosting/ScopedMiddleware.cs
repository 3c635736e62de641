using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.DependencyInjection;

namespace Busbar.Hosting;

/// <summary>
/// Runs a DI middleware class: resolved for every invocation from the invocation's service scope, which the first
/// DI middleware of the pipeline opens and closes when the rest of the pipeline has ended. Inner DI middlewares and
/// a DI handler class (<see cref="ScopedEventHandler{T, THandler}"/>) join that scope, so they share scoped services
/// such as a DbContext or a unit of work.
/// </summary>
internal sealed class ScopedMiddleware<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TMiddleware>(IServiceScopeFactory scopes)
    : IEventMiddleware
    where TMiddleware : class, IEventMiddleware
{
    public ValueTask InvokeAsync(HandlerInvocation invocation, HandlerDelegate next)
    {
        if (invocation.Services is { } services)
            return services.GetRequiredService<TMiddleware>().InvokeAsync(invocation, next);
        return InvocationScope.RunAsync(scopes, invocation, next, static (services, invocation, next) => services.GetRequiredService<TMiddleware>().InvokeAsync(invocation, next));
    }
}

/// <summary>A DI middleware class for events assignable to <typeparamref name="T"/>; see <see cref="ScopedMiddleware{TMiddleware}"/>.</summary>
internal sealed class ScopedMiddleware<T, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TMiddleware>(IServiceScopeFactory scopes)
    : IEventMiddleware<T>
    where TMiddleware : class, IEventMiddleware<T>
{
    public ValueTask InvokeAsync(T @event, HandlerInvocation invocation, HandlerDelegate next)
    {
        if (invocation.Services is { } services)
            return services.GetRequiredService<TMiddleware>().InvokeAsync(@event, invocation, next);
        return InvocationScope.RunAsync(scopes, invocation, next, static (services, invocation, next) => services.GetRequiredService<TMiddleware>().InvokeAsync((T)invocation.Event, invocation, next));
    }
}

/// <summary>Opens the DI scope of one handler invocation around the rest of its pipeline.</summary>
internal static class InvocationScope
{
    public static async ValueTask RunAsync(IServiceScopeFactory scopes, HandlerInvocation invocation, HandlerDelegate next, Func<IServiceProvider, HandlerInvocation, HandlerDelegate, ValueTask> run)
    {
        var scope = scopes.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            invocation.Services = scope.ServiceProvider;
            try
            {
                await run(scope.ServiceProvider, invocation, next).ConfigureAwait(false);
            }
            finally
            {
                invocation.Services = null;
            }
        }
    }
}

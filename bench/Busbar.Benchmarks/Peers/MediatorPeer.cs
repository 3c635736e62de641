using Busbar.Benchmarks.Events;
using Mediator;
using Microsoft.Extensions.DependencyInjection;

namespace Busbar.Benchmarks.Peers;

/// <summary>Notification with exactly one Mediator handler.</summary>
public sealed record MediatorPing1(int Value) : INotification;

/// <summary>Notification with eight Mediator handlers.</summary>
public sealed record MediatorPing8(int Value) : INotification;

/// <summary>
/// martinothamar/Mediator 3.0.2 as its own benchmarks use it at its fastest: the concrete generated
/// <c>Mediator</c> class, singleton lifetime, the default <c>ForeachAwaitPublisher</c>.
/// </summary>
public static class MediatorPeer
{
    public static (ServiceProvider Provider, global::Mediator.Mediator Mediator) Create()
    {
        var services = new ServiceCollection();
        services.AddMediator((MediatorOptions options) =>
        {
            options.ServiceLifetime = ServiceLifetime.Singleton;
            options.NotificationPublisherType = typeof(ForeachAwaitPublisher);
            options.Assemblies = [typeof(MediatorPing1)];
        });
        var provider = services.BuildServiceProvider();
        return (provider, provider.GetRequiredService<global::Mediator.Mediator>());
    }
}

public sealed class MediatorPing1Handler : INotificationHandler<MediatorPing1>
{
    public ValueTask Handle(MediatorPing1 notification, CancellationToken cancellationToken)
    {
        InlineSink.Count++;
        return default;
    }
}

public sealed class MediatorPing8Handler0 : INotificationHandler<MediatorPing8>
{
    public ValueTask Handle(MediatorPing8 notification, CancellationToken cancellationToken) { InlineSink.Count++; return default; }
}

public sealed class MediatorPing8Handler1 : INotificationHandler<MediatorPing8>
{
    public ValueTask Handle(MediatorPing8 notification, CancellationToken cancellationToken) { InlineSink.Count++; return default; }
}

public sealed class MediatorPing8Handler2 : INotificationHandler<MediatorPing8>
{
    public ValueTask Handle(MediatorPing8 notification, CancellationToken cancellationToken) { InlineSink.Count++; return default; }
}

public sealed class MediatorPing8Handler3 : INotificationHandler<MediatorPing8>
{
    public ValueTask Handle(MediatorPing8 notification, CancellationToken cancellationToken) { InlineSink.Count++; return default; }
}

public sealed class MediatorPing8Handler4 : INotificationHandler<MediatorPing8>
{
    public ValueTask Handle(MediatorPing8 notification, CancellationToken cancellationToken) { InlineSink.Count++; return default; }
}

public sealed class MediatorPing8Handler5 : INotificationHandler<MediatorPing8>
{
    public ValueTask Handle(MediatorPing8 notification, CancellationToken cancellationToken) { InlineSink.Count++; return default; }
}

public sealed class MediatorPing8Handler6 : INotificationHandler<MediatorPing8>
{
    public ValueTask Handle(MediatorPing8 notification, CancellationToken cancellationToken) { InlineSink.Count++; return default; }
}

public sealed class MediatorPing8Handler7 : INotificationHandler<MediatorPing8>
{
    public ValueTask Handle(MediatorPing8 notification, CancellationToken cancellationToken) { InlineSink.Count++; return default; }
}

using Busbar.Benchmarks.Events;
using MassTransit;
using MassTransit.Mediator;
using Microsoft.Extensions.DependencyInjection;

namespace Busbar.Benchmarks.Peers;

/// <summary>MassTransit 8.5: its mediator (inline rows) and its in-memory bus (queued driver rows).</summary>
public static class MassTransitPeer
{
    /// <summary>A mediator whose <see cref="Ping"/> has <paramref name="handlers"/> consumers (1 or 8).</summary>
    public static (ServiceProvider Provider, IMediator Mediator) CreateMediator(int handlers)
    {
        var services = new ServiceCollection();
        // Called through its class: Mediator's source generator also adds an AddMediator extension.
        DependencyInjectionRegistrationExtensions.AddMediator(services, cfg =>
        {
            foreach (var consumer in InlineConsumers.Take(handlers))
            {
                cfg.AddConsumer(consumer);
            }
        });
        var provider = services.BuildServiceProvider();
        return (provider, provider.GetRequiredService<IMediator>());
    }

    /// <summary>
    /// An in-memory bus with one consumer of <see cref="Ping"/> that calls <paramref name="onHandled"/>;
    /// the bus is started before it is returned.
    /// </summary>
    public static async Task<(ServiceProvider Provider, IBusControl Bus)> StartInMemoryBusAsync(Action onHandled)
    {
        var services = new ServiceCollection();
        services.AddSingleton(new QueuedConsumer.Callback(onHandled));
        services.AddMassTransit(x =>
        {
            x.AddConsumer<QueuedConsumer>();
            x.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
        });
        var provider = services.BuildServiceProvider();
        var bus = provider.GetRequiredService<IBusControl>();
        await bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        return (provider, bus);
    }

    private static readonly Type[] InlineConsumers =
    [
        typeof(Consumer0), typeof(Consumer1), typeof(Consumer2), typeof(Consumer3),
        typeof(Consumer4), typeof(Consumer5), typeof(Consumer6), typeof(Consumer7),
    ];

    public sealed class QueuedConsumer(QueuedConsumer.Callback callback) : IConsumer<Ping>
    {
        public Task Consume(ConsumeContext<Ping> context)
        {
            callback.OnHandled();
            return Task.CompletedTask;
        }

        public sealed record Callback(Action OnHandled);
    }

    public sealed class Consumer0 : IConsumer<Ping>
    {
        public Task Consume(ConsumeContext<Ping> context) { InlineSink.Count++; return Task.CompletedTask; }
    }

    public sealed class Consumer1 : IConsumer<Ping>
    {
        public Task Consume(ConsumeContext<Ping> context) { InlineSink.Count++; return Task.CompletedTask; }
    }

    public sealed class Consumer2 : IConsumer<Ping>
    {
        public Task Consume(ConsumeContext<Ping> context) { InlineSink.Count++; return Task.CompletedTask; }
    }

    public sealed class Consumer3 : IConsumer<Ping>
    {
        public Task Consume(ConsumeContext<Ping> context) { InlineSink.Count++; return Task.CompletedTask; }
    }

    public sealed class Consumer4 : IConsumer<Ping>
    {
        public Task Consume(ConsumeContext<Ping> context) { InlineSink.Count++; return Task.CompletedTask; }
    }

    public sealed class Consumer5 : IConsumer<Ping>
    {
        public Task Consume(ConsumeContext<Ping> context) { InlineSink.Count++; return Task.CompletedTask; }
    }

    public sealed class Consumer6 : IConsumer<Ping>
    {
        public Task Consume(ConsumeContext<Ping> context) { InlineSink.Count++; return Task.CompletedTask; }
    }

    public sealed class Consumer7 : IConsumer<Ping>
    {
        public Task Consume(ConsumeContext<Ping> context) { InlineSink.Count++; return Task.CompletedTask; }
    }
}

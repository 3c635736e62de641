using System.Collections.Concurrent;
using Busbar.Hosting;
using Busbar.Tests.Diagnostics;
using Busbar.Tests.Hosting.Scanned;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Busbar.Tests.Hosting.Scanned
{
    [EventName("scan.order")]
    public sealed record ScanOrder(int Id);

    [EventName("scan.refund")]
    public sealed record ScanRefund(int Id);

    /// <summary>What the scanned handlers saw: (handler, event id).</summary>
    public sealed class ScanLog
    {
        public ConcurrentQueue<(string Handler, int Id)> Handled { get; } = new();
    }

    public sealed class ScanAuditHandler(ScanLog log) : IEventHandler<ScanOrder>, IEventHandler<ScanRefund>
    {
        public ValueTask HandleAsync(ScanOrder @event, EventContext context, CancellationToken cancellationToken)
        {
            log.Handled.Enqueue((nameof(ScanAuditHandler), @event.Id));
            return ValueTask.CompletedTask;
        }

        public ValueTask HandleAsync(ScanRefund @event, EventContext context, CancellationToken cancellationToken)
        {
            log.Handled.Enqueue((nameof(ScanAuditHandler), -@event.Id));
            return ValueTask.CompletedTask;
        }
    }

    internal sealed class ScanBillingHandler(ScanLog log) : IEventHandler<ScanOrder>
    {
        public ValueTask HandleAsync(ScanOrder @event, EventContext context, CancellationToken cancellationToken)
        {
            log.Handled.Enqueue((nameof(ScanBillingHandler), @event.Id));
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>Abstract: not a handler DI can build, so the scan skips it.</summary>
    public abstract class ScanAbstractHandler : IEventHandler<ScanOrder>
    {
        public abstract ValueTask HandleAsync(ScanOrder @event, EventContext context, CancellationToken cancellationToken);
    }

    /// <summary>Open generic: no event type to close it over, so the scan skips it.</summary>
    public sealed class ScanGenericHandler<TTag> : IEventHandler<ScanOrder>
    {
        public ValueTask HandleAsync(ScanOrder @event, EventContext context, CancellationToken cancellationToken) =>
            throw new InvalidOperationException($"{typeof(TTag)}: an open generic handler must not be subscribed.");
    }
}

namespace Busbar.Tests.Hosting
{
    public class HandlerScanningTests
    {
        private static bool InScannedNamespace(Type type) => type.Namespace == typeof(ScanOrder).Namespace;

        private static async Task<IHost> StartAsync(Action<BusbarBuilder> configure)
        {
            var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
            builder.Services.AddSingleton<ScanLog>();
            builder.Services.AddBusbar(configure);
            var host = builder.Build();
            await host.StartAsync().WaitAsync(Eventually.Limit);
            return host;
        }

        [Fact]
        public async Task AddHandlersFromAssembly_EveryConcreteHandlerClass_SubscribedPerEventType()
        {
            using var host = await StartAsync(b => b.AddHandlersFromAssembly(typeof(HandlerScanningTests).Assembly, InScannedNamespace));
            var bus = host.Services.GetRequiredService<IEventBus>();

            var order = await bus.PublishAndWaitAsync(new ScanOrder(1)).Within();
            var refund = await bus.PublishAndWaitAsync(new ScanRefund(2)).Within();
            await host.StopAsync().WaitAsync(Eventually.Limit);

            Assert.Equal(EventStatus.Completed, order.Status);
            // Named after the class's full name; ScanAuditHandler handles two event types, so its names carry the event type.
            Assert.Equal(["Busbar.Tests.Hosting.Scanned.ScanAuditHandler<ScanOrder>", "Busbar.Tests.Hosting.Scanned.ScanBillingHandler"], order.Handlers.Select(h => h.SubscriptionName));
            Assert.Equal(["Busbar.Tests.Hosting.Scanned.ScanAuditHandler<ScanRefund>"], refund.Handlers.Select(h => h.SubscriptionName));
            var log = host.Services.GetRequiredService<ScanLog>();
            Assert.Equal([(nameof(ScanAuditHandler), -2), (nameof(ScanAuditHandler), 1), (nameof(ScanBillingHandler), 1)], log.Handled.Order());
        }

        [Fact]
        public async Task AddHandlersFromAssembly_SameSubscriptionsAsExplicitAddHandlerCalls()
        {
            using var scanned = await StartAsync(b => b.AddHandlersFromAssemblyContaining<ScanOrder>(InScannedNamespace));
            using var explicitly = await StartAsync(b => b
                .AddHandler<ScanOrder, ScanAuditHandler>()
                .AddHandler<ScanRefund, ScanAuditHandler>()
                .AddHandler<ScanOrder, ScanBillingHandler>());

            var scannedOutcome = await scanned.Services.GetRequiredService<IEventBus>().PublishAndWaitAsync(new ScanOrder(1)).Within();
            var explicitOutcome = await explicitly.Services.GetRequiredService<IEventBus>().PublishAndWaitAsync(new ScanOrder(1)).Within();

            Assert.Equal(explicitOutcome.Handlers.Select(h => h.SubscriptionName), scannedOutcome.Handlers.Select(h => h.SubscriptionName));
            Assert.Equal(
                explicitly.Services.GetRequiredService<IEventBus>().GetStatistics().Handlers.Keys.Order(StringComparer.Ordinal),
                scanned.Services.GetRequiredService<IEventBus>().GetStatistics().Handlers.Keys.Order(StringComparer.Ordinal));
            await scanned.StopAsync().WaitAsync(Eventually.Limit);
            await explicitly.StopAsync().WaitAsync(Eventually.Limit);
        }

        [Fact]
        public async Task AddHandler_DefaultNames_SameAsCoreSubscribeOfTheSameHandlerClass()
        {
            using var host = await StartAsync(b => b
                .AddHandler<ScanOrder, ScanAuditHandler>()
                .AddHandler<ScanRefund, ScanAuditHandler>()
                .AddHandler<ScanOrder, ScanBillingHandler>());
            var hosted = host.Services.GetRequiredService<IEventBus>().GetStatistics().Handlers.Keys.Order(StringComparer.Ordinal).ToList();
            await host.StopAsync().WaitAsync(Eventually.Limit);

            await using var core = EventBus.Create();
            var audit = new ScanAuditHandler(new ScanLog());
            string[] coreNames =
            [
                core.Subscribe<ScanOrder>(audit).Name,
                core.Subscribe<ScanRefund>(audit).Name,
                core.Subscribe<ScanOrder>(new ScanBillingHandler(new ScanLog())).Name,
            ];

            Assert.Equal(coreNames.Order(StringComparer.Ordinal), hosted);
        }

        [Fact]
        public async Task AddHandler_DefaultNames_SameOnEveryBuild()
        {
            string[] NamesOf(IHost host) => [.. host.Services.GetRequiredService<IEventBus>().GetStatistics().Handlers.Keys.Order(StringComparer.Ordinal)];
            using var first = await StartAsync(b => b.AddHandlersFromAssemblyContaining<ScanOrder>(InScannedNamespace));
            using var second = await StartAsync(b => b.AddHandlersFromAssemblyContaining<ScanOrder>(InScannedNamespace));

            Assert.Equal(3, NamesOf(first).Length);
            Assert.Equal(NamesOf(first), NamesOf(second));
            await first.StopAsync().WaitAsync(Eventually.Limit);
            await second.StopAsync().WaitAsync(Eventually.Limit);
        }

        [Fact]
        public async Task AddHandler_SameClassAndEventTwice_StartThrowsTheDuplicateNameError()
        {
            var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
            builder.Services.AddSingleton<ScanLog>();
            builder.Services.AddBusbar(b => b
                .AddHandler<ScanOrder, ScanBillingHandler>()
                .AddHandler<ScanOrder, ScanBillingHandler>());
            using var host = builder.Build();

            var ex = await Assert.ThrowsAsync<ArgumentException>(() => host.StartAsync().WaitAsync(Eventually.Limit));
            Assert.Contains("'Busbar.Tests.Hosting.Scanned.ScanBillingHandler'", ex.Message, StringComparison.Ordinal);
            Assert.Contains("SubscriptionOptions.Name", ex.Message, StringComparison.Ordinal);
        }

#pragma warning disable IL2026, IL3050 // reflection-based JSON for the test's log
        [Fact]
        public async Task AddHandler_DuplicateNameOnADurableBus_StartThrowsAndTheLogIsReleased()
        {
            var directory = Directory.CreateTempSubdirectory("busbar-hosting-").FullName;
            try
            {
                var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
                builder.Services.AddSingleton<ScanLog>();
                builder.Services.AddBusbar(b => b
                    .ConfigureBus((_, bus) => bus.UseWriteAheadLog(directory))
                    .AddHandler<ScanOrder, ScanBillingHandler>()
                    .AddHandler<ScanOrder, ScanBillingHandler>());
                using (var host = builder.Build())
                    await Assert.ThrowsAsync<ArgumentException>(() => host.StartAsync().WaitAsync(Eventually.Limit));

                // The failed bus let go of the log's directory lock: a bus opens it again in this process.
                await using var again = new EventBusBuilder().UseWriteAheadLog(directory).Build();
                Assert.NotNull(again.GetWriteAheadLogStatus());
            }
            finally
            {
                Directory.Delete(directory, recursive: true);
            }
        }
#pragma warning restore IL2026, IL3050

        [Fact]
        public async Task AddHandlersFromAssembly_PredicateRejectsAll_SubscribesNothing()
        {
            using var host = await StartAsync(b => b.AddHandlersFromAssembly(typeof(HandlerScanningTests).Assembly, _ => false));
            var bus = host.Services.GetRequiredService<IEventBus>();

            var outcome = await bus.PublishAndWaitAsync(new ScanOrder(1)).Within();
            await host.StopAsync().WaitAsync(Eventually.Limit);

            Assert.Empty(outcome.Handlers);
        }

        [Fact]
        public void AddHandlersFromAssembly_NullAssembly_ThrowsArgumentNull()
        {
            var services = new ServiceCollection();
            var ex = Assert.Throws<ArgumentNullException>(() => services.AddBusbar(b => b.AddHandlersFromAssembly(null!)));
            Assert.Equal("assembly", ex.ParamName);
        }
    }
}

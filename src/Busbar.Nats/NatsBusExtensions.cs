using Busbar.Hosting;
using Busbar.Transport;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Busbar.Nats;

/// <summary>Puts a bus on NATS JetStream in one line: <c>builder.UseNats("nats://127.0.0.1:4222", events)</c> or <c>services.AddBusbar().UseNats(events)</c>.</summary>
public static class NatsBusExtensions
{
    /// <summary>The connection string name <see cref="UseNats(BusbarBuilder, EventTypeRegistry, string, Func{NatsTransportOptions, NatsTransportOptions}?, TransportBusOptions?)"/> reads by default (<c>ConnectionStrings:nats</c>).</summary>
    public const string DefaultConnectionName = "nats";

    /// <summary>
    /// Publishes and consumes through NATS JetStream. The bus connects when it is built (in the background) and closes the
    /// connection when it is disposed; see <see cref="EventBusBuilder.UseTransport(IEventTransport, EventTypeRegistry, TransportBusOptions?)"/>
    /// for what publishing and consuming mean on a distributed bus.
    /// </summary>
    /// <param name="builder">The bus builder.</param>
    /// <param name="nats">Connection and stream options; validated here.</param>
    /// <param name="events">The event types that travel, with their JSON contracts.</param>
    /// <param name="options">Group, redelivery and lease extension. Unset, <see cref="TransportBusOptions.MaxDeliveries"/> is
    /// <see cref="NatsTransportOptions.MaxDeliveries"/>, and the lease is extended at half <see cref="NatsTransportOptions.Lease"/> at most.</param>
    /// <returns>The bus builder.</returns>
    /// <exception cref="ArgumentException">An option is invalid; the message names it.</exception>
    public static EventBusBuilder UseNats(this EventBusBuilder builder, NatsTransportOptions nats, EventTypeRegistry events, TransportBusOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(nats);
        nats.Validate();
        return builder.UseTransport(
            async (bus, cancellationToken) => await NatsTransport.ConnectAsync(nats, bus.LoggerFactory, bus.TimeProvider, null, cancellationToken).ConfigureAwait(false),
            events,
            Fit(options ?? new TransportBusOptions(), nats));
    }

    /// <summary>Publishes and consumes through the NATS at <paramref name="url"/> with default transport options; see the other overload.</summary>
    /// <param name="builder">The bus builder.</param>
    /// <param name="url">The server URL(s), e.g. <c>nats://127.0.0.1:4222</c>.</param>
    /// <param name="events">The event types that travel.</param>
    /// <param name="options">Group, redelivery and lease extension.</param>
    /// <returns>The bus builder.</returns>
    public static EventBusBuilder UseNats(this EventBusBuilder builder, string url, EventTypeRegistry events, TransportBusOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(url);
        return builder.UseNats(new NatsTransportOptions { Url = url }, events, options);
    }

    /// <summary>
    /// Puts the registered bus on NATS JetStream, with the connection string <c>ConnectionStrings:{connectionName}</c> from the
    /// host's configuration. The transport is created with the bus and disposed with it.
    /// </summary>
    /// <param name="builder">The bus registration.</param>
    /// <param name="events">The event types that travel, with their JSON contracts.</param>
    /// <param name="connectionName">The connection string's name. Default <c>nats</c>.</param>
    /// <param name="configure">Adjusts the transport options read from configuration (credentials, stream, lease).</param>
    /// <param name="options">Group, redelivery and lease extension; see <see cref="UseNats(EventBusBuilder, NatsTransportOptions, EventTypeRegistry, TransportBusOptions?)"/>.</param>
    /// <returns>The bus registration.</returns>
    /// <remarks>
    /// A missing connection string fails when the bus is built (the host's start), with a message naming the key. The transport's
    /// health check (NatsTransportHealthCheck: connection, alarms, lag) is added to the host's health checks as <c>busbar-nats</c>
    /// (<c>busbar-{bus name}-nats</c> for a named bus); it reports unhealthy until the bus is connected.
    /// </remarks>
    public static BusbarBuilder UseNats(this BusbarBuilder builder, EventTypeRegistry events, string connectionName = DefaultConnectionName, Func<NatsTransportOptions, NatsTransportOptions>? configure = null, TransportBusOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(events);
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionName);
        var health = new BusTransportHealthCheck();
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(builder.Name is null ? "busbar-nats" : $"busbar-{builder.Name}-nats", health, failureStatus: null, tags: ["busbar", "nats"]));
        return builder.ConfigureBus((services, bus) =>
        {
            var configuration = services.GetService<IConfiguration>()?.GetConnectionString(connectionName);
            if (string.IsNullOrWhiteSpace(configuration))
                throw new InvalidOperationException($"Bus '{builder.Name ?? "(default)"}' uses NATS, but the configuration has no connection string 'ConnectionStrings:{connectionName}' (e.g. \"nats://127.0.0.1:4222\").");
            var nats = new NatsTransportOptions { Url = configuration };
            if (configure is not null)
                nats = configure(nats);
            nats.Validate();
            bus.UseTransport(
                async (arguments, cancellationToken) => health.Transport = await NatsTransport.ConnectAsync(nats, arguments.LoggerFactory, arguments.TimeProvider, null, cancellationToken).ConfigureAwait(false),
                events,
                Fit(options ?? new TransportBusOptions(), nats));
        });
    }

    private static TransportBusOptions Fit(TransportBusOptions options, NatsTransportOptions nats)
    {
        var halfLease = nats.Lease / 2;
        return options with
        {
            MaxDeliveries = options.MaxDeliveries ?? nats.MaxDeliveries,
            LeaseExtensionInterval = options.LeaseExtensionInterval < halfLease ? options.LeaseExtensionInterval : halfLease,
        };
    }

    /// <summary>Reports the bus's transport once it is connected (<see cref="NatsTransportHealthCheck"/>), unhealthy before.</summary>
    private sealed class BusTransportHealthCheck : IHealthCheck
    {
        private volatile INatsTransport? _transport;

        public INatsTransport? Transport
        {
            get => _transport;
            set => _transport = value;
        }

        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            _transport is { } transport
                ? new NatsTransportHealthCheck(transport).CheckHealthAsync(context, cancellationToken)
                : Task.FromResult(HealthCheckResult.Unhealthy("The bus has not connected its NATS transport yet."));
    }
}

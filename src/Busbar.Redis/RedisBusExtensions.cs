using Busbar.Hosting;
using Busbar.Transport;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Busbar.Redis;

/// <summary>Puts a bus on Redis Streams in one line: <c>builder.UseRedis("127.0.0.1:6379", events)</c> or <c>services.AddBusbar().UseRedis(events)</c>.</summary>
public static class RedisBusExtensions
{
    /// <summary>The connection string name <see cref="UseRedis(BusbarBuilder, EventTypeRegistry, string, Func{RedisTransportOptions, RedisTransportOptions}?, TransportBusOptions?)"/> reads by default (<c>ConnectionStrings:redis</c>).</summary>
    public const string DefaultConnectionName = "redis";

    /// <summary>
    /// Publishes and consumes through Redis Streams. The bus connects when it is built (in the background) and closes the
    /// connection when it is disposed; see <see cref="EventBusBuilder.UseTransport(IEventTransport, EventTypeRegistry, TransportBusOptions?)"/>
    /// for what publishing and consuming mean on a distributed bus.
    /// </summary>
    /// <param name="builder">The bus builder.</param>
    /// <param name="redis">Connection and stream options; validated here.</param>
    /// <param name="events">The event types that travel, with their JSON contracts.</param>
    /// <param name="options">Group, redelivery and lease extension. Unset, <see cref="TransportBusOptions.MaxDeliveries"/> is
    /// <see cref="RedisTransportOptions.MaxDeliveries"/>, and the lease is extended at half <see cref="RedisTransportOptions.Lease"/> at most.</param>
    /// <returns>The bus builder.</returns>
    /// <exception cref="ArgumentException">An option is invalid; the message names it.</exception>
    public static EventBusBuilder UseRedis(this EventBusBuilder builder, RedisTransportOptions redis, EventTypeRegistry events, TransportBusOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(redis);
        redis.Validate();
        return builder.UseTransport(
            async (bus, cancellationToken) => await RedisTransport.ConnectAsync(redis, bus.LoggerFactory, bus.TimeProvider, null, cancellationToken).ConfigureAwait(false),
            events,
            Fit(options ?? new TransportBusOptions(), redis));
    }

    /// <summary>Publishes and consumes through the Redis at <paramref name="configuration"/> with default transport options; see the other overload.</summary>
    /// <param name="builder">The bus builder.</param>
    /// <param name="configuration">The StackExchange.Redis configuration string, e.g. <c>127.0.0.1:6379</c>.</param>
    /// <param name="events">The event types that travel.</param>
    /// <param name="options">Group, redelivery and lease extension.</param>
    /// <returns>The bus builder.</returns>
    public static EventBusBuilder UseRedis(this EventBusBuilder builder, string configuration, EventTypeRegistry events, TransportBusOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(configuration);
        return builder.UseRedis(new RedisTransportOptions { Configuration = configuration }, events, options);
    }

    /// <summary>
    /// Puts the registered bus on Redis Streams, with the connection string <c>ConnectionStrings:{connectionName}</c> from the
    /// host's configuration. The transport is created with the bus and disposed with it.
    /// </summary>
    /// <param name="builder">The bus registration.</param>
    /// <param name="events">The event types that travel, with their JSON contracts.</param>
    /// <param name="connectionName">The connection string's name. Default <c>redis</c>.</param>
    /// <param name="configure">Adjusts the transport options read from configuration (credentials, key prefix, lease).</param>
    /// <param name="options">Group, redelivery and lease extension; see <see cref="UseRedis(EventBusBuilder, RedisTransportOptions, EventTypeRegistry, TransportBusOptions?)"/>.</param>
    /// <returns>The bus registration.</returns>
    /// <remarks>
    /// A missing connection string fails when the bus is built (the host's start), with a message naming the key. The transport's
    /// health check (RedisTransportHealthCheck: connection, alarms, lag) is added to the host's health checks as <c>busbar-redis</c>
    /// (<c>busbar-{bus name}-redis</c> for a named bus); it reports unhealthy until the bus is connected.
    /// </remarks>
    public static BusbarBuilder UseRedis(this BusbarBuilder builder, EventTypeRegistry events, string connectionName = DefaultConnectionName, Func<RedisTransportOptions, RedisTransportOptions>? configure = null, TransportBusOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(events);
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionName);
        var health = new BusTransportHealthCheck();
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(builder.Name is null ? "busbar-redis" : $"busbar-{builder.Name}-redis", health, failureStatus: null, tags: ["busbar", "redis"]));
        return builder.ConfigureBus((services, bus) =>
        {
            var configuration = services.GetService<IConfiguration>()?.GetConnectionString(connectionName);
            if (string.IsNullOrWhiteSpace(configuration))
                throw new InvalidOperationException($"Bus '{builder.Name ?? "(default)"}' uses Redis, but the configuration has no connection string 'ConnectionStrings:{connectionName}' (e.g. \"127.0.0.1:6379\").");
            var redis = new RedisTransportOptions { Configuration = configuration };
            if (configure is not null)
                redis = configure(redis);
            redis.Validate();
            bus.UseTransport(
                async (arguments, cancellationToken) => health.Transport = await RedisTransport.ConnectAsync(redis, arguments.LoggerFactory, arguments.TimeProvider, null, cancellationToken).ConfigureAwait(false),
                events,
                Fit(options ?? new TransportBusOptions(), redis));
        });
    }

    private static TransportBusOptions Fit(TransportBusOptions options, RedisTransportOptions redis)
    {
        var halfLease = redis.Lease / 2;
        return options with
        {
            MaxDeliveries = options.MaxDeliveries ?? redis.MaxDeliveries,
            LeaseExtensionInterval = options.LeaseExtensionInterval < halfLease ? options.LeaseExtensionInterval : halfLease,
        };
    }

    /// <summary>Reports the bus's transport once it is connected (<see cref="RedisTransportHealthCheck"/>), unhealthy before.</summary>
    private sealed class BusTransportHealthCheck : IHealthCheck
    {
        private volatile IRedisTransport? _transport;

        public IRedisTransport? Transport
        {
            get => _transport;
            set => _transport = value;
        }

        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            _transport is { } transport
                ? new RedisTransportHealthCheck(transport).CheckHealthAsync(context, cancellationToken)
                : Task.FromResult(HealthCheckResult.Unhealthy("The bus has not connected its Redis transport yet."));
    }
}

using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Busbar.Redis;

/// <summary>Connects Busbar to Redis Streams.</summary>
public static class RedisTransport
{
    /// <summary>The oldest server the transport runs on: it needs <c>XPENDING … IDLE</c>, exclusive ranges and <c>XTRIM MINID</c> (6.2).</summary>
    public static readonly Version MinimumServerVersion = new(6, 2);

    /// <summary>
    /// Connects, checks the server version, and listens on the doorbell channel. Fails with a message that says how to
    /// start a local server when none answers.
    /// </summary>
    /// <param name="options">Connection and behaviour; validated here.</param>
    /// <param name="loggerFactory">Where the transport logs (names, ids, counts; never payloads). Default: none.</param>
    /// <param name="timeProvider">The clock for retention and alarms. Default: <see cref="TimeProvider.System"/>.</param>
    /// <param name="meterFactory">Creates the <c>Busbar.Redis</c> meter. Default: a plain meter.</param>
    /// <param name="cancellationToken">Cancels connecting.</param>
    /// <exception cref="ArgumentException">An option is invalid (the message names it).</exception>
    /// <exception cref="RedisConnectionException">No server answered in <see cref="RedisTransportOptions.ConnectTimeout"/>.</exception>
    /// <exception cref="NotSupportedException">The server is older than <see cref="MinimumServerVersion"/>.</exception>
    public static async ValueTask<IRedisTransport> ConnectAsync(
        RedisTransportOptions options,
        ILoggerFactory? loggerFactory = null,
        TimeProvider? timeProvider = null,
        IMeterFactory? meterFactory = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var configuration = ConfigurationOptions.Parse(options.Configuration);
        if (options.User is not null)
            configuration.User = options.User;
        if (options.Password is not null)
            configuration.Password = options.Password;
        if (options.UseTls)
            configuration.Ssl = true;
        if (options.TlsHost is not null)
            configuration.SslHost = options.TlsHost;
        configuration.AbortOnConnectFail = true;
        configuration.ConnectTimeout = (int)options.ConnectTimeout.TotalMilliseconds;
        configuration.ClientName ??= "busbar";

        ConnectionMultiplexer connection;
        var connecting = ConnectionMultiplexer.ConnectAsync(configuration);
        try
        {
            connection = await connecting.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            _ = DisposeWhenConnectedAsync(connecting);
            throw;
        }
        catch (RedisConnectionException ex)
        {
            var endPoints = string.Join(", ", configuration.EndPoints);
            var hint = configuration.EndPoints.All(IsLocal)
                ? " No server answers on this machine; start one with: redis-server --port <port> --appendonly yes"
                : string.Empty;
            throw new RedisConnectionException(ex.FailureType, CommandFlags.None, $"Cannot connect to Redis at {endPoints}: {ex.Message}.{hint}", ex, CommandStatus.Unknown);
        }

        try
        {
            var server = connection.GetServer(connection.GetEndPoints()[0]);
            var version = server.Version;
            if (version < MinimumServerVersion)
                throw new NotSupportedException($"Busbar.Redis needs Redis {MinimumServerVersion} or newer; the server at {server.EndPoint} is {version}.");
            var consumer = options.ConsumerName ?? DefaultConsumerName();
            var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Busbar.Redis");
            var context = new RedisContext(connection, new RedisKeys(options.KeyPrefix), options, consumer, logger, timeProvider ?? TimeProvider.System, new RedisMetrics(meterFactory));
            var transport = new RedisEventTransport(context, version);
            await transport.StartAsync().ConfigureAwait(false);
            RedisLog.Connected(logger, version, server.EndPoint.ToString() ?? "?", consumer);
            return transport;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The default consumer name: stable across restarts of one service on one machine.</summary>
    internal static string DefaultConsumerName()
    {
        var process = System.Diagnostics.Process.GetCurrentProcess().ProcessName;
        return $"{Environment.MachineName}/{process}".Replace(' ', '_');
    }

    /// <summary>A connect abandoned by cancellation still finishes; close what it opens.</summary>
    private static async Task DisposeWhenConnectedAsync(Task<ConnectionMultiplexer> connecting)
    {
        try
        {
            await (await connecting.ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // It failed to connect: nothing to close.
        }
    }

    private static bool IsLocal(System.Net.EndPoint endPoint) => endPoint switch
    {
        System.Net.IPEndPoint ip => System.Net.IPAddress.IsLoopback(ip.Address),
        System.Net.DnsEndPoint dns => dns.Host is "localhost" or "127.0.0.1",
        _ => false,
    };
}

using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;
using NATS.Client.JetStream;

namespace Busbar.Nats;

/// <summary>Connects Busbar to NATS JetStream.</summary>
public static class NatsTransport
{
    /// <summary>The oldest server the transport runs on (Debian 12's 2.9.10 is tested): JetStream pull consumers, NAK with delay, filtered consumer creation.</summary>
    public static readonly Version MinimumServerVersion = NatsServerFeatures.Minimum;

    /// <summary>
    /// Connects, checks the server version and JetStream, and creates the event and dead-letter streams when missing (or
    /// refuses when they exist with another configuration). Fails with a message that says how to start a local server
    /// when none answers.
    /// </summary>
    /// <param name="options">Connection, layout and behaviour; validated here.</param>
    /// <param name="loggerFactory">Where the transport logs (names, ids, counts; never payloads or secrets). Default: none.</param>
    /// <param name="timeProvider">The clock for publish retries and dead-letter times. Default: <see cref="TimeProvider.System"/>.</param>
    /// <param name="meterFactory">Creates the <c>Busbar.Nats</c> meter. Default: a plain meter.</param>
    /// <param name="cancellationToken">Cancels connecting.</param>
    /// <exception cref="ArgumentException">An option is invalid (the message names it).</exception>
    /// <exception cref="NatsException">No server answered in <see cref="NatsTransportOptions.ConnectTimeout"/>, or JetStream is not enabled.</exception>
    /// <exception cref="NotSupportedException">The server is older than <see cref="MinimumServerVersion"/>.</exception>
    /// <exception cref="InvalidOperationException">A stream exists with another configuration (the message names each difference).</exception>
    public static async ValueTask<INatsTransport> ConnectAsync(
        NatsTransportOptions options,
        ILoggerFactory? loggerFactory = null,
        TimeProvider? timeProvider = null,
        IMeterFactory? meterFactory = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        loggerFactory ??= NullLoggerFactory.Instance;
        var connection = new NatsConnection(ConnectionOptions(options, loggerFactory));
        try
        {
            try
            {
                await connection.ConnectAsync().AsTask().WaitAsync(options.ConnectTimeout, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is NatsException or TimeoutException)
            {
                var urls = string.Join(",", options.Url.Split(',').Select(u => NatsTransportOptions.Redact(u.Trim())));
                var hint = options.Url.Split(',').All(IsLocal)
                    ? " No server answers on this machine; start one with: nats-server -js -p <port> -sd <store directory>"
                    : string.Empty;
                throw new NatsException($"Cannot connect to NATS at {urls}: {ex.Message}.{hint}", ex);
            }

            var version = NatsServerFeatures.Parse(connection.ServerInfo?.Version);
            if (version < MinimumServerVersion)
                throw new NotSupportedException($"Busbar.Nats needs nats-server {MinimumServerVersion} or newer; the server at {NatsTransportOptions.Redact(options.Url)} is {version}.");
            if (connection.ServerInfo is { JetStreamAvailable: false })
                throw new NatsException($"JetStream is not enabled on the NATS server at {NatsTransportOptions.Redact(options.Url)}: start nats-server with -js (and -sd <store directory>), or enable the jetstream block in its configuration.");

            var features = new NatsServerFeatures(version);
            var js = new NatsJSContext(connection);
            var topology = new NatsTopology(js, options, features);
            await topology.EnsureStreamAsync(topology.EventStream(), cancellationToken).ConfigureAwait(false);
            await topology.EnsureStreamAsync(topology.DeadLetterStream(), cancellationToken).ConfigureAwait(false);

            var logger = loggerFactory.CreateLogger("Busbar.Nats");
            var context = new NatsContext(connection, js, options, features, topology, logger, timeProvider ?? TimeProvider.System);
            var transport = new NatsEventTransport(context, meterFactory);
            NatsLog.Connected(logger, version, NatsTransportOptions.Redact(options.Url), options.StreamName, features.MultipleFilterSubjects);
            return transport;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    internal static NatsOpts ConnectionOptions(NatsTransportOptions options, ILoggerFactory loggerFactory)
    {
        var auth = NatsAuthOpts.Default with
        {
            Username = options.User,
            Password = options.Password,
            Token = options.Token,
            NKeyFile = options.NKeyFile,
            CredsFile = options.CredentialsFile,
        };
        var tls = NatsTlsOpts.Default with
        {
            Mode = options.UseTls ? TlsMode.Require : TlsMode.Auto,
            CaFile = options.TlsCaFile,
            CertFile = options.TlsCertFile,
            KeyFile = options.TlsKeyFile,
        };
        return NatsOpts.Default with
        {
            Url = options.Url,
            Name = "busbar",
            AuthOpts = auth,
            TlsOpts = tls,
            LoggerFactory = loggerFactory,
            ConnectTimeout = options.ConnectTimeout,
            RequestTimeout = options.RequestTimeout,

            // Reconnect forever: a publish in flight fails after PublishTimeout, a consumer waits; both resume on their own.
            MaxReconnectRetry = -1,
            ReconnectWaitMin = TimeSpan.FromMilliseconds(100),
            ReconnectWaitMax = TimeSpan.FromSeconds(2),
        };
    }

    private static bool IsLocal(string url) =>
        Uri.TryCreate(url.Trim(), UriKind.Absolute, out var uri) && (uri.IsLoopback || uri.Host is "localhost" or "127.0.0.1");
}

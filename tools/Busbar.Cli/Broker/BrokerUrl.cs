using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Busbar.Nats;
using Busbar.Redis;
using Busbar.Transport;
using NATS.Client.Core;
using StackExchange.Redis;

namespace Busbar.Cli.Broker;

/// <summary>
/// A broker address as the broker commands take it: <c>redis://host[:port]</c> (or <c>rediss://</c> for TLS) and
/// <c>nats://host[:port]</c>, optionally with <c>user:password@</c>. Connecting turns "nothing answers" into a user
/// error that, for a local address, says how to start a server.
/// </summary>
internal sealed record BrokerUrl(string Scheme, string Host, int Port, string? User, string? Password)
{
    public const int RedisDefaultPort = 6379;
    public const int NatsDefaultPort = 4222;

    public bool IsRedis => Scheme is "redis" or "rediss";

    /// <summary>The address without the password, as every message shows it.</summary>
    public string Display => string.Create(CultureInfo.InvariantCulture, $"{Scheme}://{(User is null ? "" : User + "@")}{Host}:{Port}");

    public bool IsLocal => Host is "localhost" or "127.0.0.1" or "::1" or "[::1]";

    /// <summary>The <c>&lt;url&gt;</c> argument every broker command takes.</summary>
    public static Argument<BrokerUrl> Argument() => new("url")
    {
        Description = "The broker: redis://host[:port] (rediss:// for TLS) or nats://host[:port], optionally with user:password@.",
        CustomParser = Parse,
    };

    /// <summary>Parses the argument; a bad address is one parse error (exit 2).</summary>
    public static BrokerUrl? Parse(ArgumentResult result)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
        if (TryParse(text, out var url, out var error))
            return url;
        result.AddError($"<url> '{text}' {error}");
        return null;
    }

    public static bool TryParse(string text, out BrokerUrl? url, out string? error)
    {
        url = null;
        error = null;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("redis" or "rediss" or "nats") || string.IsNullOrEmpty(uri.Host))
        {
            error = "is not a broker address: use redis://host[:port] or nats://host[:port] (e.g. redis://127.0.0.1:6379).";
            return false;
        }

        if (uri.AbsolutePath is not ("" or "/") || uri.Query.Length > 0)
        {
            error = "has a path or query; give only scheme, host and port.";
            return false;
        }

        string? user = null, password = null;
        if (uri.UserInfo.Length > 0)
        {
            var parts = uri.UserInfo.Split(':', 2);
            user = parts[0].Length > 0 ? Uri.UnescapeDataString(parts[0]) : null;
            password = parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : null;
        }

        var port = uri.IsDefaultPort || uri.Port < 0 ? (uri.Scheme == "nats" ? NatsDefaultPort : RedisDefaultPort) : uri.Port;
        url = new BrokerUrl(uri.Scheme, uri.Host, port, user, password);
        return true;
    }

    /// <summary>Connects a transport, or throws a <see cref="UserErrorException"/> saying what is wrong and, locally, how to start a server.</summary>
    public Task<IEventTransport> ConnectAsync(CancellationToken cancellationToken) =>
        ConnectAsync(static redis => redis, static nats => nats, cancellationToken);

    /// <summary>
    /// Connects a transport with options adjusted from the address's defaults (the distributed demo's own namespace and
    /// short lease), or throws a <see cref="UserErrorException"/> as <see cref="ConnectAsync(CancellationToken)"/> does.
    /// </summary>
    public async Task<IEventTransport> ConnectAsync(
        Func<RedisTransportOptions, RedisTransportOptions> redis,
        Func<NatsTransportOptions, NatsTransportOptions> nats,
        CancellationToken cancellationToken)
    {
        try
        {
            return IsRedis
                ? await RedisTransport.ConnectAsync(redis(RedisOptions()), cancellationToken: cancellationToken)
                : await NatsTransport.ConnectAsync(nats(NatsOptions()), cancellationToken: cancellationToken);
        }
        catch (Exception ex) when (ex is RedisException or NatsException or TimeoutException or System.Net.Sockets.SocketException)
        {
            var hint = IsLocal
                ? IsRedis
                    ? string.Create(CultureInfo.InvariantCulture, $" Start a local server with: redis-server --port {Port} --appendonly yes")
                    : string.Create(CultureInfo.InvariantCulture, $" Start a local server with: nats-server -js -p {Port} -sd <store directory>")
                : "";
            var what = ex.Message.Contains("JetStream is not enabled", StringComparison.Ordinal)
                ? $"the NATS server at {Display} does not have JetStream enabled; start nats-server with -js (and -sd <store directory>)."
                : $"nothing answers at {Display}.{hint}";
            throw new UserErrorException(what, ex);
        }
        catch (Exception ex) when (ex is NotSupportedException or InvalidOperationException or ArgumentException)
        {
            throw new UserErrorException($"cannot use the broker at {Display}: {ex.Message}", ex);
        }
    }

    /// <summary>Runs a command's work on a connected broker, turning a broker failure into one line (exit 1) instead of a stack trace.</summary>
    public async Task<int> RunAsync(Func<IEventTransport, Task<int>> work, CancellationToken cancellationToken)
    {
        await using var transport = await ConnectAsync(cancellationToken);
        try
        {
            return await work(transport);
        }
        catch (Exception ex) when (ex is RedisException or NatsException or TimeoutException)
        {
            throw new UserErrorException($"the broker at {Display} failed: {ex.Message}", ex);
        }
    }

    /// <summary>The address as Redis transport options, with the CLI's timeouts.</summary>
    public RedisTransportOptions RedisOptions() =>
        new()
        {
            Configuration = string.Create(CultureInfo.InvariantCulture, $"{Host}:{Port}"),
            User = User,
            Password = Password,
            UseTls = Scheme == "rediss",
            ConnectTimeout = TimeSpan.FromSeconds(5),
            FallbackPollInterval = TimeSpan.FromMilliseconds(500),
        };

    /// <summary>The address as NATS transport options, with the CLI's timeouts.</summary>
    public NatsTransportOptions NatsOptions() =>
        new()
        {
            Url = string.Create(CultureInfo.InvariantCulture, $"nats://{Host}:{Port}"),
            User = User,
            Password = Password,
            ConnectTimeout = TimeSpan.FromSeconds(5),
        };
}

using Busbar.Cli.Broker;
using NATS.Client.Core;
using NATS.Client.JetStream;
using StackExchange.Redis;

namespace Busbar.Cli.Distributed;

/// <summary>
/// Removes a finished run's namespace from the broker (its Redis keys, or its two NATS streams), so demo runs do not pile
/// up there. Best effort: a failure is reported in the summary, never fatal.
/// </summary>
internal static class DemoNamespaceCleanup
{
    private const int DeleteBatch = 256;

    /// <summary>Removes it; returns why it could not, or null.</summary>
    public static async Task<string?> RemoveAsync(BrokerUrl url, DemoNamespace space, CancellationToken cancellationToken)
    {
        try
        {
            if (url.IsRedis)
                await RemoveRedisAsync(url, space);
            else
                await RemoveNatsAsync(url, space, cancellationToken);
            return null;
        }
        catch (Exception ex) when (ex is RedisException or NatsException or TimeoutException or OperationCanceledException)
        {
            return ex.Message;
        }
    }

    private static async Task RemoveRedisAsync(BrokerUrl url, DemoNamespace space)
    {
        var options = url.RedisOptions();
        var configuration = ConfigurationOptions.Parse(options.Configuration);
        configuration.User = options.User;
        configuration.Password = options.Password;
        configuration.Ssl = options.UseTls;
        configuration.ConnectTimeout = (int)options.ConnectTimeout.TotalMilliseconds;
        configuration.ClientName = "busbar-demo-cleanup";
        await using var connection = await ConnectionMultiplexer.ConnectAsync(configuration);
        var database = connection.GetDatabase();
        foreach (var endpoint in connection.GetEndPoints())
        {
            var server = connection.GetServer(endpoint);
            if (server.IsReplica)
                continue;
            var keys = new List<RedisKey>(DeleteBatch);
            await foreach (var key in server.KeysAsync(pattern: space.RedisKeyPrefix + "*", pageSize: DeleteBatch))
            {
                keys.Add(key);
                if (keys.Count == DeleteBatch)
                {
                    await database.KeyDeleteAsync([.. keys]);
                    keys.Clear();
                }
            }

            if (keys.Count > 0)
                await database.KeyDeleteAsync([.. keys]);
        }
    }

    private static async Task RemoveNatsAsync(BrokerUrl url, DemoNamespace space, CancellationToken cancellationToken)
    {
        var options = url.NatsOptions();
        await using var connection = new NatsConnection(NatsOpts.Default with
        {
            Url = options.Url,
            Name = "busbar-demo-cleanup",
            AuthOpts = NatsAuthOpts.Default with { Username = options.User, Password = options.Password },
            ConnectTimeout = options.ConnectTimeout,
        });
        var js = new NatsJSContext(connection);
        foreach (var stream in new[] { space.NatsStreamName, space.NatsStreamName + "_DEAD" })
        {
            try
            {
                await js.DeleteStreamAsync(stream, cancellationToken);
            }
            catch (NatsJSApiException ex) when (ex.Error.Code == 404)
            {
                // Never created (no dead letters): nothing to remove.
            }
        }
    }
}

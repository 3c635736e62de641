using System.Globalization;
using System.Text;
using StackExchange.Redis;

namespace Busbar.Redis;

/// <summary>How a process connects to Redis and runs its streams, groups and janitor. Validated when the transport is created.</summary>
public sealed record RedisTransportOptions
{
    /// <summary>The StackExchange.Redis configuration string, e.g. <c>127.0.0.1:6379</c> or <c>redis1:6379,redis2:6379</c>.</summary>
    /// <value>Required.</value>
    public required string Configuration { get; init; }

    /// <summary>The ACL user name (Redis 6+), with <see cref="Password"/>.</summary>
    /// <value>Default: none (the <c>default</c> user).</value>
    public string? User { get; init; }

    /// <summary>The password (of <see cref="User"/>, or of the <c>requirepass</c> default user). Never logged.</summary>
    /// <value>Default: none.</value>
    public string? Password { get; init; }

    /// <summary>Whether to connect with TLS.</summary>
    /// <value>Default <see langword="false"/>.</value>
    public bool UseTls { get; init; }

    /// <summary>The host name the server's TLS certificate must name, when it differs from the configured end point.</summary>
    /// <value>Default: none (the end point's host).</value>
    public string? TlsHost { get; init; }

    /// <summary>The prefix of every key and channel, so several buses share one Redis without meeting.</summary>
    /// <value>Default <c>busbar:</c>. 1 to 64 characters: letters, digits, '_', '-', '.', ':'; no '{' or '}' (it must not pin every key to one cluster slot).</value>
    public string KeyPrefix { get; init; } = "busbar:";

    /// <summary>
    /// This instance's consumer name inside its groups. It must be unique per running instance and should stay the
    /// same across its restarts (a pod name, a host plus ordinal), so the instance owns what it left pending.
    /// </summary>
    /// <value>Default: <c>{machine name}/{process name}</c>. Set it when one machine runs several instances of one service.</value>
    public string? ConsumerName { get; init; }

    /// <summary>
    /// How long a delivery may stay unsettled (the consumer group's "min idle") before the janitor of any instance claims
    /// it and delivers it again. Longer than the slowest handler, or the handler extends its lease.
    /// </summary>
    /// <value>Default 30 seconds. From 100 ms to 1 day.</value>
    public TimeSpan Lease { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How many times a message is delivered to a group before it goes to the dead letters instead.</summary>
    /// <value>Default 5. From 1 to 1000.</value>
    public int MaxDeliveries { get; init; } = 5;

    /// <summary>The most entries one read asks for (<c>XREADGROUP COUNT</c>); also bounded by the subscription's free in-flight room.</summary>
    /// <value>Default 100. From 1 to 10 000.</value>
    public int ReadBatchSize { get; init; } = 100;

    /// <summary>How long an idle reader waits for a doorbell before it reads anyway (a lost notice costs at most this).</summary>
    /// <value>Default 2 seconds. From 10 ms to 1 minute.</value>
    public TimeSpan FallbackPollInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How often each subscription's janitor claims expired leases, dead-letters, trims and checks the hard cap.</summary>
    /// <value>Default 5 seconds. From 10 ms to 10 minutes.</value>
    public TimeSpan JanitorInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How many XADD commands may await their reply at once (the publish window, shared by all publishers of the transport).</summary>
    /// <value>Default 1024. From 1 to 65 536.</value>
    public int PublishWindow { get; init; } = 1024;

    /// <summary>What a publish does when the window is full: <see cref="BusFullMode.Wait"/> for room, or <see cref="BusFullMode.Reject"/> with a <see cref="BusFullException"/>.</summary>
    /// <value>Default <see cref="BusFullMode.Wait"/>. The drop modes are not accepted: a transport never drops silently.</value>
    public BusFullMode PublishFullMode { get; init; } = BusFullMode.Wait;

    /// <summary>
    /// How long entries every group acknowledged stay in their stream before the janitor trims them; lets a group that
    /// joins later still read recent history, and gives operators something to inspect.
    /// </summary>
    /// <value>Default 1 hour. <see cref="TimeSpan.Zero"/> trims as soon as every group acknowledged; at most 365 days.</value>
    public TimeSpan Retention { get; init; } = TimeSpan.FromHours(1);

    /// <summary>
    /// A hard cap on a stream's length, a memory guard against a group that stopped consuming. Past it the janitor
    /// trims even unacknowledged entries, counts them as lost and logs an error.
    /// </summary>
    /// <value>Default: none (unacknowledged entries are never trimmed). At least 1000 when set.</value>
    public long? MaxStreamLength { get; init; }

    /// <summary>How long connecting may take before <see cref="RedisTransport.ConnectAsync"/> fails.</summary>
    /// <value>Default 5 seconds. From 100 ms to 5 minutes.</value>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid option.</summary>
    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(Configuration))
            throw Invalid(nameof(Configuration), "is required (for example \"127.0.0.1:6379\")");
        if (string.IsNullOrEmpty(KeyPrefix) || KeyPrefix.Length > 64)
            throw Invalid(nameof(KeyPrefix), "must be 1 to 64 characters long");
        foreach (var c in KeyPrefix)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('_' or '-' or '.' or ':'))
                throw Invalid(nameof(KeyPrefix), $"has the character '{c}': use letters, digits, '_', '-', '.' and ':'");
        }

        if (ConsumerName is not null && (ConsumerName.Length is 0 or > 200 || ConsumerName.Any(char.IsWhiteSpace)))
            throw Invalid(nameof(ConsumerName), "must be 1 to 200 characters without spaces");
        if (Lease < TimeSpan.FromMilliseconds(100) || Lease > TimeSpan.FromDays(1))
            throw Invalid(nameof(Lease), $"must be from 100 ms to 1 day (was {Lease})");
        if (MaxDeliveries is < 1 or > 1000)
            throw Invalid(nameof(MaxDeliveries), $"must be from 1 to 1000 (was {MaxDeliveries})");
        if (ReadBatchSize is < 1 or > 10_000)
            throw Invalid(nameof(ReadBatchSize), $"must be from 1 to 10000 (was {ReadBatchSize})");
        if (FallbackPollInterval < TimeSpan.FromMilliseconds(10) || FallbackPollInterval > TimeSpan.FromMinutes(1))
            throw Invalid(nameof(FallbackPollInterval), $"must be from 10 ms to 1 minute (was {FallbackPollInterval})");
        if (JanitorInterval < TimeSpan.FromMilliseconds(10) || JanitorInterval > TimeSpan.FromMinutes(10))
            throw Invalid(nameof(JanitorInterval), $"must be from 10 ms to 10 minutes (was {JanitorInterval})");
        if (PublishWindow is < 1 or > 65_536)
            throw Invalid(nameof(PublishWindow), $"must be from 1 to 65536 (was {PublishWindow})");
        if (PublishFullMode is not (BusFullMode.Wait or BusFullMode.Reject))
            throw Invalid(nameof(PublishFullMode), $"must be Wait or Reject (was {PublishFullMode}): a transport does not drop events");
        if (Retention < TimeSpan.Zero || Retention > TimeSpan.FromDays(365))
            throw Invalid(nameof(Retention), $"must be from zero to 365 days (was {Retention})");
        if (MaxStreamLength is < 1000)
            throw Invalid(nameof(MaxStreamLength), $"must be at least 1000 when set (was {MaxStreamLength})");
        if (ConnectTimeout < TimeSpan.FromMilliseconds(100) || ConnectTimeout > TimeSpan.FromMinutes(5))
            throw Invalid(nameof(ConnectTimeout), $"must be from 100 ms to 5 minutes (was {ConnectTimeout})");
    }

    // Records print every property; the password (alone or inside the configuration string) must never reach a log.
    private bool PrintMembers(StringBuilder builder)
    {
        string configuration;
        try
        {
            configuration = ConfigurationOptions.Parse(Configuration ?? string.Empty).ToString(includePassword: false);
        }
        catch (ArgumentException)
        {
            configuration = "(unreadable)";
        }

        builder.Append(CultureInfo.InvariantCulture, $"Configuration = {configuration}, User = {User}, Password = {(Password is null ? "(none)" : "(set)")}, UseTls = {UseTls}, ");
        builder.Append(CultureInfo.InvariantCulture, $"KeyPrefix = {KeyPrefix}, ConsumerName = {ConsumerName}, Lease = {Lease}, MaxDeliveries = {MaxDeliveries}, ReadBatchSize = {ReadBatchSize}, ");
        builder.Append(CultureInfo.InvariantCulture, $"FallbackPollInterval = {FallbackPollInterval}, JanitorInterval = {JanitorInterval}, PublishWindow = {PublishWindow}, PublishFullMode = {PublishFullMode}, ");
        builder.Append(CultureInfo.InvariantCulture, $"Retention = {Retention}, MaxStreamLength = {MaxStreamLength}, ConnectTimeout = {ConnectTimeout}");
        return true;
    }

    private static ArgumentException Invalid(string option, string why) => new($"{nameof(RedisTransportOptions)}.{option} {why}.", option);
}

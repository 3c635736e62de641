using System.Globalization;
using System.Text;

namespace Busbar.Nats;

/// <summary>How a process connects to NATS and lays out its JetStream stream and consumers. Validated when the transport is created.</summary>
public sealed record NatsTransportOptions
{
    /// <summary>The server URL, or several separated by commas, e.g. <c>nats://127.0.0.1:4222</c> (<c>tls://</c> for TLS).</summary>
    /// <value>Required.</value>
    public required string Url { get; init; }

    /// <summary>The user name, with <see cref="Password"/>.</summary>
    /// <value>Default: none.</value>
    public string? User { get; init; }

    /// <summary>The password of <see cref="User"/>. Never logged.</summary>
    /// <value>Default: none.</value>
    public string? Password { get; init; }

    /// <summary>An authentication token, instead of a user and password. Never logged.</summary>
    /// <value>Default: none.</value>
    public string? Token { get; init; }

    /// <summary>The path of a file holding an NKey seed (<c>SU…</c>), for NKey authentication.</summary>
    /// <value>Default: none.</value>
    public string? NKeyFile { get; init; }

    /// <summary>The path of a <c>.creds</c> file (a user JWT and its NKey seed), for decentralized (operator mode) authentication.</summary>
    /// <value>Default: none.</value>
    public string? CredentialsFile { get; init; }

    /// <summary>Whether TLS is required (a <c>tls://</c> URL requires it too).</summary>
    /// <value>Default <see langword="false"/>.</value>
    public bool UseTls { get; init; }

    /// <summary>A PEM file of the certificate authorities the server's certificate must chain to.</summary>
    /// <value>Default: none (the system's trust store).</value>
    public string? TlsCaFile { get; init; }

    /// <summary>A PEM client certificate, for servers that verify clients (<c>verify: true</c>), with <see cref="TlsKeyFile"/>.</summary>
    /// <value>Default: none.</value>
    public string? TlsCertFile { get; init; }

    /// <summary>The PEM private key of <see cref="TlsCertFile"/>.</summary>
    /// <value>Default: none.</value>
    public string? TlsKeyFile { get; init; }

    /// <summary>
    /// The JetStream stream that holds this bus namespace's events; several buses share a server with different names.
    /// The dead letters go to a second stream named <c>{StreamName}_DEAD</c>.
    /// </summary>
    /// <value>Default <c>BUSBAR</c>. 1 to 32 characters: letters, digits, '_' and '-'.</value>
    public string StreamName { get; init; } = "BUSBAR";

    /// <summary>
    /// The first subject token: an event <c>orders.placed</c> is stored under <c>{SubjectPrefix}.orders.placed</c>, and the stream
    /// captures <c>{SubjectPrefix}.&gt;</c>. Dead letters use <c>{SubjectPrefix}_dead.{name}</c>.
    /// </summary>
    /// <value>Default <c>busbar</c>. 1 to 32 characters: letters, digits, '_' and '-' (one token, no dots).</value>
    public string SubjectPrefix { get; init; } = "busbar";

    /// <summary>
    /// How long a delivery may stay unsettled before the server gives it to another consumer of the group (the consumers'
    /// <c>AckWait</c>). Longer than the slowest handler, or the handler extends its lease.
    /// </summary>
    /// <value>Default 30 seconds. From 1 second to 1 day.</value>
    public TimeSpan Lease { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How many times a message is delivered to a group before it goes to the dead letters instead.</summary>
    /// <value>Default 5. From 1 to 1000.</value>
    public int MaxDeliveries { get; init; } = 5;

    /// <summary>
    /// The most deliveries of one consumer (a group and pattern) that may be unacknowledged across all its instances
    /// (the consumers' <c>MaxAckPending</c>); the server stops handing out more until some are settled.
    /// </summary>
    /// <value>Default 10 000. From 1 to 1 000 000.</value>
    public int MaxAckPending { get; init; } = 10_000;

    /// <summary>How long the stream keeps an event (its <c>MaxAge</c>); a group that falls further behind than this loses events.</summary>
    /// <value>Default 7 days. From 1 minute to 3650 days.</value>
    public TimeSpan Retention { get; init; } = TimeSpan.FromDays(7);

    /// <summary>How long the stream remembers a message id (<c>Nats-Msg-Id</c>, the event id), so a re-sent event is stored once.</summary>
    /// <value>Default 2 minutes. From 1 second to <see cref="Retention"/>.</value>
    public TimeSpan DuplicateWindow { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Whether the streams are kept in memory instead of files. Memory streams lose everything when the server stops.</summary>
    /// <value>Default <see langword="false"/> (file storage).</value>
    public bool MemoryStorage { get; init; }

    /// <summary>How many servers of a JetStream cluster keep each stream.</summary>
    /// <value>Default 1. 1, 3 or 5.</value>
    public int Replicas { get; init; } = 1;

    /// <summary>How many publishes may await their acknowledgement at once (the publish window, shared by all publishers of the transport).</summary>
    /// <value>Default 256. From 1 to 65 536.</value>
    public int PublishWindow { get; init; } = 256;

    /// <summary>What a publish does when the window is full: <see cref="BusFullMode.Wait"/> for room, or <see cref="BusFullMode.Reject"/> with a <see cref="BusFullException"/>.</summary>
    /// <value>Default <see cref="BusFullMode.Wait"/>. The drop modes are not accepted: a transport never drops silently.</value>
    public BusFullMode PublishFullMode { get; init; } = BusFullMode.Wait;

    /// <summary>
    /// How long one message of a publish keeps being re-sent (with the same <c>Nats-Msg-Id</c>, so the stream stores it once)
    /// while the server does not answer, for example across a restart, before the publish fails.
    /// </summary>
    /// <value>Default 30 seconds. From 1 second to 10 minutes.</value>
    public TimeSpan PublishTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long one server request (a publish attempt, a consumer lookup) waits for its answer.</summary>
    /// <value>Default 5 seconds. From 100 ms to 1 minute.</value>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a pull request waits on the server for messages before the consumer asks again.</summary>
    /// <value>Default 5 seconds. From 1 second to 1 minute.</value>
    public TimeSpan PullExpiry { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often each subscription reads its consumers' state (pending and redelivered counts) for the metrics and the status.</summary>
    /// <value>Default 5 seconds. From 100 ms to 10 minutes.</value>
    public TimeSpan StatusInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long connecting may take before <see cref="NatsTransport.ConnectAsync"/> fails.</summary>
    /// <value>Default 5 seconds. From 100 ms to 5 minutes.</value>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The name of the dead-letter stream.</summary>
    internal string DeadLetterStreamName => StreamName + "_DEAD";

    /// <summary>The first subject token of the dead letters.</summary>
    internal string DeadLetterSubjectPrefix => SubjectPrefix + "_dead";

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid option.</summary>
    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(Url))
            throw Invalid(nameof(Url), "is required (for example \"nats://127.0.0.1:4222\")");
        foreach (var url in Url.Split(','))
        {
            if (!Uri.TryCreate(url.Trim(), UriKind.Absolute, out var uri) || uri.Scheme is not ("nats" or "tls" or "ws" or "wss"))
                throw Invalid(nameof(Url), $"has '{Redact(url.Trim())}', which is not a nats://, tls://, ws:// or wss:// URL");
        }

        CheckToken(StreamName, nameof(StreamName));
        CheckToken(SubjectPrefix, nameof(SubjectPrefix));
        if (Password is not null && User is null)
            throw Invalid(nameof(Password), "needs a User");
        if (User is not null && Password is null)
            throw Invalid(nameof(User), "needs a Password");
        var methods = (User is null ? 0 : 1) + (Token is null ? 0 : 1) + (NKeyFile is null ? 0 : 1) + (CredentialsFile is null ? 0 : 1);
        if (methods > 1)
            throw Invalid(nameof(CredentialsFile), "is one of four ways to authenticate (User and Password, Token, NKeyFile, CredentialsFile): set only one");
        if (TlsKeyFile is null != (TlsCertFile is null))
            throw Invalid(nameof(TlsCertFile), "and TlsKeyFile go together: set both or neither");
        if (Lease < TimeSpan.FromSeconds(1) || Lease > TimeSpan.FromDays(1))
            throw Invalid(nameof(Lease), $"must be from 1 second to 1 day (was {Lease})");
        if (MaxDeliveries is < 1 or > 1000)
            throw Invalid(nameof(MaxDeliveries), $"must be from 1 to 1000 (was {MaxDeliveries})");
        if (MaxAckPending is < 1 or > 1_000_000)
            throw Invalid(nameof(MaxAckPending), $"must be from 1 to 1000000 (was {MaxAckPending})");
        if (Retention < TimeSpan.FromMinutes(1) || Retention > TimeSpan.FromDays(3650))
            throw Invalid(nameof(Retention), $"must be from 1 minute to 3650 days (was {Retention})");
        if (DuplicateWindow < TimeSpan.FromSeconds(1) || DuplicateWindow > Retention)
            throw Invalid(nameof(DuplicateWindow), $"must be from 1 second to Retention ({Retention}) (was {DuplicateWindow})");
        if (Replicas is not (1 or 3 or 5))
            throw Invalid(nameof(Replicas), $"must be 1, 3 or 5 (was {Replicas})");
        if (PublishWindow is < 1 or > 65_536)
            throw Invalid(nameof(PublishWindow), $"must be from 1 to 65536 (was {PublishWindow})");
        if (PublishFullMode is not (BusFullMode.Wait or BusFullMode.Reject))
            throw Invalid(nameof(PublishFullMode), $"must be Wait or Reject (was {PublishFullMode}): a transport does not drop events");
        if (PublishTimeout < TimeSpan.FromSeconds(1) || PublishTimeout > TimeSpan.FromMinutes(10))
            throw Invalid(nameof(PublishTimeout), $"must be from 1 second to 10 minutes (was {PublishTimeout})");
        if (RequestTimeout < TimeSpan.FromMilliseconds(100) || RequestTimeout > TimeSpan.FromMinutes(1))
            throw Invalid(nameof(RequestTimeout), $"must be from 100 ms to 1 minute (was {RequestTimeout})");
        if (PullExpiry < TimeSpan.FromSeconds(1) || PullExpiry > TimeSpan.FromMinutes(1))
            throw Invalid(nameof(PullExpiry), $"must be from 1 second to 1 minute (was {PullExpiry})");
        if (StatusInterval < TimeSpan.FromMilliseconds(100) || StatusInterval > TimeSpan.FromMinutes(10))
            throw Invalid(nameof(StatusInterval), $"must be from 100 ms to 10 minutes (was {StatusInterval})");
        if (ConnectTimeout < TimeSpan.FromMilliseconds(100) || ConnectTimeout > TimeSpan.FromMinutes(5))
            throw Invalid(nameof(ConnectTimeout), $"must be from 100 ms to 5 minutes (was {ConnectTimeout})");
    }

    /// <summary>The URL without any user information (<c>nats://user:pass@host</c> keeps its password out of logs).</summary>
    internal static string Redact(string url)
    {
        var at = url.IndexOf('@', StringComparison.Ordinal);
        var scheme = url.IndexOf("://", StringComparison.Ordinal);
        return at < 0 || scheme < 0 || at < scheme ? url : string.Concat(url.AsSpan(0, scheme + 3), "(credentials)@", url.AsSpan(at + 1));
    }

    // Records print every property; secrets (alone or inside the URL) must never reach a log.
    private bool PrintMembers(StringBuilder builder)
    {
        var urls = string.Join(",", (Url ?? string.Empty).Split(',').Select(u => Redact(u.Trim())));
        builder.Append(CultureInfo.InvariantCulture, $"Url = {urls}, User = {User}, Password = {(Password is null ? "(none)" : "(set)")}, Token = {(Token is null ? "(none)" : "(set)")}, ");
        builder.Append(CultureInfo.InvariantCulture, $"NKeyFile = {NKeyFile}, CredentialsFile = {CredentialsFile}, UseTls = {UseTls}, TlsCaFile = {TlsCaFile}, TlsCertFile = {TlsCertFile}, TlsKeyFile = {TlsKeyFile}, ");
        builder.Append(CultureInfo.InvariantCulture, $"StreamName = {StreamName}, SubjectPrefix = {SubjectPrefix}, Lease = {Lease}, MaxDeliveries = {MaxDeliveries}, MaxAckPending = {MaxAckPending}, ");
        builder.Append(CultureInfo.InvariantCulture, $"Retention = {Retention}, DuplicateWindow = {DuplicateWindow}, MemoryStorage = {MemoryStorage}, Replicas = {Replicas}, PublishWindow = {PublishWindow}, PublishFullMode = {PublishFullMode}, ");
        builder.Append(CultureInfo.InvariantCulture, $"PublishTimeout = {PublishTimeout}, RequestTimeout = {RequestTimeout}, PullExpiry = {PullExpiry}, StatusInterval = {StatusInterval}, ConnectTimeout = {ConnectTimeout}");
        return true;
    }

    private static void CheckToken(string value, string option)
    {
        if (string.IsNullOrEmpty(value) || value.Length > 32)
            throw Invalid(option, "must be 1 to 32 characters long");
        foreach (var c in value)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('_' or '-'))
                throw Invalid(option, $"has the character '{c}': use letters, digits, '_' and '-'");
        }
    }

    private static ArgumentException Invalid(string option, string why) => new($"{nameof(NatsTransportOptions)}.{option} {why}.", option);
}

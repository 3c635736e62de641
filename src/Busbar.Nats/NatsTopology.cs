using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Busbar.Nats;

/// <summary>
/// Creates the streams and consumers the transport needs and compares existing ones with what it wants: it creates what
/// is missing and refuses, with a message naming each difference, what exists with another configuration. It never
/// updates a stream or a consumer: changing retention or a lease under running services is an operator's decision.
/// </summary>
internal sealed class NatsTopology(INatsJSContext js, NatsTransportOptions options, NatsServerFeatures features)
{
    private const int NotFound = 404;

    public StreamConfig EventStream() => new(options.StreamName, [options.SubjectPrefix + ".>"])
    {
        Description = "Busbar events",
        Retention = StreamConfigRetention.Limits,
        Storage = options.MemoryStorage ? StreamConfigStorage.Memory : StreamConfigStorage.File,
        MaxAge = options.Retention,
        DuplicateWindow = options.DuplicateWindow,
        Discard = StreamConfigDiscard.Old,
        NumReplicas = options.Replicas,
    };

    public StreamConfig DeadLetterStream() => new(options.DeadLetterStreamName, [options.DeadLetterSubjectPrefix + ".>"])
    {
        Description = "Busbar dead letters",
        Retention = StreamConfigRetention.Limits,
        Storage = options.MemoryStorage ? StreamConfigStorage.Memory : StreamConfigStorage.File,
        MaxAge = TimeSpan.Zero,
        DuplicateWindow = options.DuplicateWindow,
        Discard = StreamConfigDiscard.Old,
        NumReplicas = options.Replicas,
    };

    /// <summary>
    /// The consumer of <paramref name="group"/> for <paramref name="filters"/> (one filter on 2.9; several only where the
    /// server has <c>filter_subjects</c>). The description records the group's whole pattern list: instances of one group
    /// must agree on it, because on 2.9 it decides which of the group's consumers handles an event two patterns match.
    /// </summary>
    public ConsumerConfig Consumer(string group, IReadOnlyList<string> patterns, IReadOnlyList<string> filters)
    {
        var name = NatsSubjects.ConsumerName(group, filters);
        var config = new ConsumerConfig(name)
        {
            Description = $"busbar group {group} patterns {string.Join(' ', patterns)}",
            AckPolicy = ConsumerConfigAckPolicy.Explicit,
            AckWait = options.Lease,

            // The transport dead-letters at MaxDeliveries itself (it must copy the message first), so the server never
            // stops redelivering on its own: a message whose dead-lettering failed comes back and is tried again.
            MaxDeliver = -1,
            MaxAckPending = options.MaxAckPending,
            DeliverPolicy = ConsumerConfigDeliverPolicy.All,
            ReplayPolicy = ConsumerConfigReplayPolicy.Instant,
            NumReplicas = 0,
        };
        if (filters.Count == 1)
            config.FilterSubject = filters[0];
        else
            config.FilterSubjects = [.. filters];
        return config;
    }

    public async Task EnsureStreamAsync(StreamConfig wanted, CancellationToken cancellationToken)
    {
        INatsJSStream stream;
        try
        {
            stream = await js.GetStreamAsync(wanted.Name!, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == NotFound)
        {
            try
            {
                await js.CreateStreamAsync(wanted, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (NatsJSApiException created) when (created.Error.ErrCode == 10058)
            {
                // Another instance created it first (stream name already in use): compare with theirs below.
                stream = await js.GetStreamAsync(wanted.Name!, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
        }

        var differences = StreamDifferences(wanted, stream.Info.Config);
        if (differences.Count > 0)
            throw Conflict($"stream '{wanted.Name}'", differences);
    }

    public async Task<INatsJSConsumer> EnsureConsumerAsync(ConsumerConfig wanted, CancellationToken cancellationToken)
    {
        var stream = options.StreamName;
        INatsJSConsumer consumer;
        try
        {
            consumer = await js.GetConsumerAsync(stream, wanted.Name!, cancellationToken).ConfigureAwait(false);
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == NotFound)
        {
            // 2.10+ refuses to overwrite with the create action; 2.9 does not know it (and would update silently), so the
            // request goes without it there and the result is compared below like an existing consumer.
            consumer = features.CreateAction
                ? await CreateOrFindAsync(wanted, cancellationToken).ConfigureAwait(false)
                : await js.CreateOrUpdateConsumerAsync(stream, wanted, cancellationToken).ConfigureAwait(false);
        }

        var differences = ConsumerDifferences(wanted, consumer.Info.Config);
        if (differences.Count > 0)
            throw Conflict($"consumer '{wanted.Name}' on stream '{stream}'", differences);
        return consumer;
    }

    internal static List<string> StreamDifferences(StreamConfig wanted, StreamConfig existing)
    {
        var differences = new List<string>();
        Compare(differences, "subjects", string.Join(",", wanted.Subjects ?? []), string.Join(",", existing.Subjects ?? []));
        Compare(differences, "retention", wanted.Retention, existing.Retention);
        Compare(differences, "storage", wanted.Storage, existing.Storage);
        Compare(differences, "max_age", wanted.MaxAge, existing.MaxAge);
        Compare(differences, "duplicate_window", wanted.DuplicateWindow, existing.DuplicateWindow);
        Compare(differences, "discard", wanted.Discard, existing.Discard);
        Compare(differences, "num_replicas", wanted.NumReplicas, existing.NumReplicas);
        return differences;
    }

    internal static List<string> ConsumerDifferences(ConsumerConfig wanted, ConsumerConfig existing)
    {
        var differences = new List<string>();
        Compare(differences, "description", wanted.Description, existing.Description);
        Compare(differences, "filter_subject", wanted.FilterSubject ?? string.Empty, existing.FilterSubject ?? string.Empty);
        Compare(differences, "filter_subjects", string.Join(",", wanted.FilterSubjects ?? []), string.Join(",", existing.FilterSubjects ?? []));
        Compare(differences, "ack_policy", wanted.AckPolicy, existing.AckPolicy);
        Compare(differences, "ack_wait", wanted.AckWait, existing.AckWait);
        Compare(differences, "max_deliver", wanted.MaxDeliver, existing.MaxDeliver);
        Compare(differences, "max_ack_pending", wanted.MaxAckPending, existing.MaxAckPending);
        Compare(differences, "deliver_policy", wanted.DeliverPolicy, existing.DeliverPolicy);
        if (!string.IsNullOrEmpty(existing.DeliverSubject))
            differences.Add($"deliver_subject: wanted none (a pull consumer), found '{existing.DeliverSubject}' (a push consumer)");
        return differences;
    }

    private async Task<INatsJSConsumer> CreateOrFindAsync(ConsumerConfig wanted, CancellationToken cancellationToken)
    {
        try
        {
            return await js.CreateConsumerAsync(options.StreamName, wanted, cancellationToken).ConfigureAwait(false);
        }
        catch (NatsJSApiException ex) when (ex.Error.ErrCode == 10148)
        {
            // Another instance created it first with another configuration ("consumer already exists"): compare with theirs.
            return await js.GetConsumerAsync(options.StreamName, wanted.Name!, cancellationToken).ConfigureAwait(false);
        }
    }

    private static void Compare<T>(List<string> differences, string field, T wanted, T existing)
    {
        if (!EqualityComparer<T>.Default.Equals(wanted, existing))
            differences.Add($"{field}: wanted '{wanted}', found '{existing}'");
    }

    private static InvalidOperationException Conflict(string what, List<string> differences) => new(
        $"The {what} exists with another configuration ({string.Join("; ", differences)}). Busbar does not overwrite it: " +
        "change NatsTransportOptions to match, use another StreamName, or delete or update it on purpose (nats stream edit / nats consumer rm).");
}

using System.Diagnostics.Metrics;
using Busbar.Transport;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Busbar.Nats;

/// <summary>
/// The NATS JetStream transport: publishes with a bounded window of concurrent JetStream publishes (each re-sent with
/// its <c>Nats-Msg-Id</c> while the server does not answer), and runs one <see cref="NatsSubscription"/> per subscribe call.
/// </summary>
internal sealed class NatsEventTransport : INatsTransport
{
    private readonly NatsContext _context;
    private readonly SemaphoreSlim _window;
    private readonly SemaphoreSlim _sendOrder = new(1, 1);
    private readonly object _lock = new();
    private NatsSubscription[] _subscriptions = [];
    private int _disposed;

    public NatsEventTransport(NatsContext context, IMeterFactory? meterFactory)
    {
        _context = context;
        _window = new SemaphoreSlim(context.Options.PublishWindow, context.Options.PublishWindow);
        context.Metrics = new NatsMetrics(meterFactory, () => Measure(static s => s.Pending), () => Measure(static s => s.Redelivered));
    }

    public NatsTransportStatus Status
    {
        get
        {
            long inFlight = 0, pending = 0, redelivered = 0;
            foreach (var subscription in Volatile.Read(ref _subscriptions))
            {
                inFlight += subscription.InFlight;
                pending += subscription.Pending;
                redelivered += subscription.Redelivered;
            }

            return new NatsTransportStatus
            {
                IsConnected = _context.Connection.ConnectionState == NatsConnectionState.Open,
                ServerVersion = _context.Features.Version,
                MultipleFilterSubjects = _context.Features.MultipleFilterSubjects,
                ConsumersRecreated = _context.ConsumersRecreated,
                LastAlarm = _context.LastAlarm,
                InFlight = inFlight,
                Pending = pending,
                Redelivered = redelivered,
            };
        }
    }

    public async ValueTask PublishAsync(IReadOnlyList<TransportMessage> messages, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (messages.Count == 0)
            return;
        foreach (var message in messages)
        {
            if (!NatsSubjects.IsValidName(message.Name))
                throw new ArgumentException($"'{message.Name}' is not a valid event name (dotted segments of letters, digits, '_' and '-').", nameof(messages));
            if (message.Envelope.IsEmpty)
                throw new ArgumentException($"The message {message.EventId} of '{message.Name}' has no envelope.", nameof(messages));
        }

        var pending = new Task[messages.Count];
        var started = 0;
        Exception? failure = null;

        // Calls send in call order: a call waits here until the one before it has sent all its messages (not for their acks).
        if (!_sendOrder.Wait(0, CancellationToken.None))
            await _sendOrder.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            for (; started < messages.Count; started++)
            {
                await AcquireWindowAsync(cancellationToken).ConfigureAwait(false);
                pending[started] = PublishOneAsync(messages[started], cancellationToken);
            }
        }
        catch (Exception ex)
        {
            failure = ex;
        }
        finally
        {
            _sendOrder.Release();
        }

        if (failure is not null)
        {
            // What was sent may still be stored; wait for those answers so the window stays accounted.
            for (var i = 0; i < started; i++)
            {
                try
                {
                    await pending[i].ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // The caller gets the first failure below; this one's answer no longer matters.
                }
            }

            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }

        await Task.WhenAll(pending).ConfigureAwait(false);
    }

    public async ValueTask<ITransportSubscription> SubscribeAsync(TransportSubscriptionOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var subscription = new NatsSubscription(_context, options, Remove);
        await subscription.StartAsync(cancellationToken).ConfigureAwait(false);
        bool disposed;
        lock (_lock)
        {
            disposed = Volatile.Read(ref _disposed) != 0;
            if (!disposed)
                _subscriptions = [.. _subscriptions, subscription];
        }

        if (disposed)
        {
            // The transport was disposed while this subscription started: stop it before refusing.
            await subscription.DisposeAsync().ConfigureAwait(false);
            throw new ObjectDisposedException(nameof(NatsEventTransport));
        }

        return subscription;
    }

    public async ValueTask<IReadOnlyList<TransportDeadLetter>> ReadDeadLettersAsync(int maxCount, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var stream = await _context.JetStream.GetStreamAsync(_context.Options.DeadLetterStreamName, cancellationToken: cancellationToken).ConfigureAwait(false);
        var state = stream.Info.State;
        var letters = new List<TransportDeadLetter>();
        if (state.Messages == 0)
            return letters;
        for (var sequence = state.FirstSeq; sequence <= state.LastSeq && letters.Count < maxCount; sequence++)
        {
            StreamMsgGetResponse response;
            try
            {
                response = await stream.GetAsync(new StreamMsgGetRequest { Seq = sequence }, cancellationToken).ConfigureAwait(false);
            }
            catch (NatsJSApiException ex) when (ex.Error.Code == 404)
            {
                // Deleted (an operator removed or re-drove it): the next one.
                continue;
            }

            if (NatsDeadLetter.Read(sequence, response.Message.Data) is { } letter)
                letters.Add(letter);
        }

        return letters;
    }

    public async ValueTask<bool> RedriveDeadLetterAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (!ulong.TryParse(id, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var sequence) || sequence == 0)
            return false;
        var stream = await _context.JetStream.GetStreamAsync(_context.Options.DeadLetterStreamName, cancellationToken: cancellationToken).ConfigureAwait(false);
        StreamMsgGetResponse response;
        try
        {
            response = await stream.GetAsync(new StreamMsgGetRequest { Seq = sequence }, cancellationToken).ConfigureAwait(false);
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == 404)
        {
            return false;
        }

        var letter = NatsDeadLetter.Read(sequence, response.Message.Data);
        if (letter is null || letter.Envelope.IsEmpty || !NatsSubjects.IsValidName(letter.Name))
            throw new InvalidOperationException($"The dead letter {id} has no envelope or no valid event name ('{letter?.Name}'): it cannot be re-driven.");

        // Not the event id as Nats-Msg-Id: inside the dedupe window the stream would take the re-drive for a duplicate of
        // the original. An id per dead letter instead, so a retried re-drive of the same one is still stored once.
        // Publish before delete: a failure in between leaves a duplicate (handlers deduplicate by event id), never a loss.
        var subject = NatsSubjects.Subject(_context.Options.SubjectPrefix, letter.Name);
        var options = new NatsJSPubOpts { MsgId = $"busbar-redrive.{_context.Options.DeadLetterStreamName}.{sequence}" };
        var ack = await _context.JetStream.PublishAsync(subject, letter.Envelope, NatsContext.Raw, options, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!ack.Duplicate)
            ack.EnsureSuccess();
        try
        {
            await stream.DeleteMessageAsync(new StreamMsgDeleteRequest { Seq = sequence }, cancellationToken).ConfigureAwait(false);
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == 404)
        {
            // A concurrent re-drive deleted it first; the dedupe id stored the event once.
        }

        return true;
    }

    public async IAsyncEnumerable<TransportMessage> TailAsync(IReadOnlyList<string> patterns, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(patterns);
        if (patterns.Count == 0)
            throw new ArgumentException("A tail needs at least one event-name pattern ('*' for every event).", nameof(patterns));
        var parsed = patterns.Select(EventNamePattern.Parse).ToArray();
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

        // A core subscription sees every publish on the subjects, with no JetStream consumer at all, so no group is touched.
        // One pattern: its own filter subject; several: every event, matched here (overlapping subjects would repeat messages).
        var prefix = _context.Options.SubjectPrefix;
        var subject = parsed.Length == 1 ? NatsSubjects.Filter(prefix, parsed[0].Text) : prefix + ".>";
        var subscription = await _context.Connection.SubscribeCoreAsync(subject, serializer: NatsContext.Raw, cancellationToken: cancellationToken).ConfigureAwait(false);
        await using var unsubscribe = subscription.ConfigureAwait(false);
        while (true)
        {
            NatsMsg<ReadOnlyMemory<byte>> message;
            try
            {
                if (!await subscription.Msgs.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
                    yield break;
                if (!subscription.Msgs.TryRead(out message))
                    continue;
            }
            catch (OperationCanceledException)
            {
                yield break;
            }

            if (NatsSubjects.Name(prefix, message.Subject) is not { } name || !Matches(parsed, name))
                continue;
            yield return new TransportMessage(Guid.Empty, name, message.Data.ToArray());
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        NatsSubscription[] subscriptions;
        lock (_lock)
            subscriptions = _subscriptions;
        foreach (var subscription in subscriptions)
            await subscription.DisposeAsync().ConfigureAwait(false);
        await _context.Connection.DisposeAsync().ConfigureAwait(false);
        _context.Metrics.Dispose();
        _window.Dispose();
    }

    internal static bool IsTransient(Exception ex) => ex switch
    {
        // 503: JetStream is not ready yet (a server that just restarted is still recovering its streams).
        NatsJSApiException api => api.Error.Code == 503,
        NatsJSDuplicateMessageException or NatsPayloadTooLargeException => false,
        NatsException or TimeoutException => true,
        _ => false,
    };

    private async ValueTask AcquireWindowAsync(CancellationToken cancellationToken)
    {
        if (_window.Wait(0, CancellationToken.None))
            return;
        if (_context.Options.PublishFullMode == BusFullMode.Reject)
            throw new BusFullException($"The NATS publish window is full ({_context.Options.PublishWindow} publishes await their acknowledgement; NatsTransportOptions.PublishFullMode is Reject).");
        await _window.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task PublishOneAsync(TransportMessage message, CancellationToken cancellationToken)
    {
        try
        {
            var subject = NatsSubjects.Subject(_context.Options.SubjectPrefix, message.Name);
            var options = new NatsJSPubOpts { MsgId = message.EventId.ToString() };
            var limit = _context.Options.PublishTimeout;
            var started = _context.Time.GetTimestamp();
            for (var attempt = 1; ; attempt++)
            {
                Exception failure;

                // Each attempt is bounded here: while disconnected the client may hold a request until it reconnects.
                var remaining = limit - _context.Time.GetElapsedTime(started);
                using var attemptLimit = new CancellationTokenSource(Min(_context.Options.RequestTimeout, remaining), _context.Time);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, attemptLimit.Token);
                try
                {
                    var ack = await _context.JetStream.PublishAsync(subject, message.Envelope, NatsContext.Raw, options, cancellationToken: linked.Token).ConfigureAwait(false);
                    if (ack.Duplicate)
                    {
                        _context.Metrics.Duplicates.Add(1);
                        return;
                    }

                    ack.EnsureSuccess();
                    _context.Metrics.Published.Add(1);
                    return;
                }
                catch (NatsJSDuplicateMessageException)
                {
                    // The stream already holds this event id (a re-send, or a copy stored before the server went quiet): success.
                    _context.Metrics.Duplicates.Add(1);
                    return;
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    failure = new TimeoutException($"no acknowledgement within {_context.Options.RequestTimeout}");
                }
                catch (Exception ex) when (IsTransient(ex))
                {
                    failure = ex;
                }

                if (_context.Time.GetElapsedTime(started) >= limit)
                {
                    throw new NatsException(
                        $"Publishing '{message.Name}' {message.EventId} got no acknowledgement within NatsTransportOptions.PublishTimeout ({limit}, {attempt} attempts): {failure.Message}. " +
                        "It may still be stored; publishing it again with the same event id stores it once.",
                        failure);
                }

                // Re-sending with the same Nats-Msg-Id is safe: a copy the server stored before it went quiet is recognised.
                _context.Metrics.PublishRetries.Add(1);
                NatsLog.PublishRetry(_context.Logger, failure, message.Name, message.EventId, attempt);
                var pause = Min(TimeSpan.FromMilliseconds(Math.Min(1000, 50 * attempt)), limit - _context.Time.GetElapsedTime(started));
                await Task.Delay(pause, _context.Time, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _window.Release();
        }
    }

    /// <summary>The shorter of two spans, at least 1 ms (a timer of zero or less would not run).</summary>
    private static TimeSpan Min(TimeSpan a, TimeSpan b)
    {
        var shorter = a < b ? a : b;
        return shorter > TimeSpan.Zero ? shorter : TimeSpan.FromMilliseconds(1);
    }

    private static bool Matches(EventNamePattern[] patterns, string name)
    {
        foreach (var pattern in patterns)
        {
            if (pattern.Matches(name))
                return true;
        }

        return false;
    }

    private IEnumerable<Measurement<long>> Measure(Func<NatsSubscription, long> read)
    {
        foreach (var subscription in Volatile.Read(ref _subscriptions))
            yield return new Measurement<long>(read(subscription), new KeyValuePair<string, object?>("group", subscription.Group));
    }

    private void Remove(NatsSubscription subscription)
    {
        lock (_lock)
            _subscriptions = [.. _subscriptions.Where(s => s != subscription)];
    }
}

using System.Threading.Tasks.Sources;

namespace Busbar.Dispatch;

/// <summary>Publishing into a full queue under <see cref="BusFullMode.Wait"/>: the publish waits for room, as one reusable object.</summary>
internal sealed partial class InProcessEventBus
{
    // The waiter the last finished wait gave back; a publisher waiting while it is taken brings its own.
    private PublishWaiter? _spareWaiter;

    /// <summary>Waits for room, then admits; a stop or <paramref name="cancellationToken"/> ends the wait and the event as rejected.</summary>
    /// <remarks>
    /// With the queue full a publisher waits once per freed slot, so what one wait allocates counts per event: the waiter is
    /// reused once its result has been read (an async method here would allocate its state machine per wait, and its
    /// completion source per wake).
    /// </remarks>
    private ValueTask<EventHandle> WaitForRoomAsync(EventContext context, CancellationToken cancellationToken)
    {
        EnterFlight(context);
        var waiter = Interlocked.Exchange(ref _spareWaiter, null) ?? new PublishWaiter(this);
        return waiter.Start(context, cancellationToken);
    }

    /// <summary>
    /// One publish waiting for room. Woken by the queue (never inline: it queues itself to the thread pool), it tries again in
    /// the publisher's execution context; the outcome (admitted, cancelled, the bus stopped) completes the value task once, and
    /// reading that result gives the waiter back to the bus.
    /// </summary>
    private sealed class PublishWaiter(InProcessEventBus bus) : RoomWaiter, IValueTaskSource<EventHandle>, IThreadPoolWorkItem
    {
        private static readonly ContextCallback s_tryAgain = static state => ((PublishWaiter)state!).TryAgain();

        // Completed only by TryAgain on a thread-pool thread, so the publisher's continuation may run inline there.
        private ManualResetValueTaskSourceCore<EventHandle> _core;
        private EventContext? _context;
        private CancellationToken _token;
        private CancellationTokenRegistration _registration;
        private ExecutionContext? _flow;

        public ValueTask<EventHandle> Start(EventContext context, CancellationToken token)
        {
            _context = context;
            _token = token;
            _flow = ExecutionContext.Capture();
            // Registered before the waiter can be listed, so a wake never races the registration.
            if (token.CanBeCanceled)
                _registration = token.UnsafeRegister(static s => ((PublishWaiter)s!).OnCancelled(), this);
            bool admitted;
            try
            {
                admitted = bus._queue.TryEnqueueOrWait(context, this);
            }
            catch (BusStoppedException ex)
            {
                // As the async method this replaces did: the publish's value task carries what ended it, nothing is thrown here.
                GiveBack();
                return Ended(context, ex);
            }

            if (admitted)
            {
                GiveBack();
                try
                {
                    bus.OnAdmitted(context);
                }
                catch (Exception ex)
                {
                    return ValueTask.FromException<EventHandle>(ex);
                }

                return new ValueTask<EventHandle>(new EventHandle(context));
            }

            // Cancelled before the registration could unlist it (or before listing).
            if (token.IsCancellationRequested && bus._queue.TryUnlist(this))
                Wake();
            return new ValueTask<EventHandle>(this, _core.Version);
        }

        public override void Wake() => ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);

        void IThreadPoolWorkItem.Execute()
        {
            if (_flow is null)
                TryAgain();
            else
                ExecutionContext.Run(_flow, s_tryAgain, this);
        }

        private void OnCancelled()
        {
            // Only a listed waiter is taken out here; one a wake took out sees the token when it tries again.
            if (bus._queue.TryUnlist(this))
                Wake();
        }

        /// <summary>
        /// Runs on the thread pool, so nothing may escape it: whatever ends the wait (admitted, cancelled, stopped, or an exception
        /// from the refusal's or the admission's bookkeeping, such as a tracing listener) completes the publish's value task.
        /// </summary>
        private void TryAgain()
        {
            EventHandle handle;
            try
            {
                if (!TryAdmit(out handle))
                    return; // listed again
            }
            catch (Exception ex)
            {
                _registration.Dispose();
                _core.SetException(ex);
                return;
            }

            _registration.Dispose();
            _core.SetResult(handle);
        }

        /// <summary>
        /// True when the event was admitted, false when the waiter is listed again; throws what ends the publish otherwise,
        /// the event then refused as rejected.
        /// </summary>
        private bool TryAdmit(out EventHandle handle)
        {
            handle = default;
            var context = _context!;
            if (_token.IsCancellationRequested)
            {
                Refuse(context);
                throw new OperationCanceledException(_token);
            }

            bool admitted;
            try
            {
                admitted = bus._queue.TryEnqueueOrWait(context, this);
            }
            catch (BusStoppedException)
            {
                Refuse(context);
                throw;
            }

            if (!admitted)
            {
                if (!_token.IsCancellationRequested || !bus._queue.TryUnlist(this))
                    return false;
                Refuse(context);
                throw new OperationCanceledException(_token);
            }

            bus.OnAdmitted(context);
            handle = new EventHandle(context);
            return true;
        }

        /// <summary>The wait ended before the waiter was listed: the event is refused and the value task carries <paramref name="exception"/>.</summary>
        private ValueTask<EventHandle> Ended(EventContext context, Exception exception)
        {
            try
            {
                Refuse(context);
            }
            catch (Exception ex)
            {
                return ValueTask.FromException<EventHandle>(ex);
            }

            return ValueTask.FromException<EventHandle>(exception);
        }

        private void Refuse(EventContext context)
        {
            UndoFlight(context);
            bus.Refuse(context, EventStatus.Rejected);
        }

        public EventHandle GetResult(short token)
        {
            try
            {
                return _core.GetResult(token);
            }
            finally
            {
                _core.Reset();
                GiveBack();
            }
        }

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);

        /// <summary>Clears the wait and hands the waiter back to the bus for its next one (the value task was never given out, or its result was read).</summary>
        private void GiveBack()
        {
            Reset();
            Volatile.Write(ref bus._spareWaiter, this);
        }

        private void Reset()
        {
            _registration.Dispose();
            _registration = default;
            _context = null;
            _token = default;
            _flow = null;
        }
    }
}

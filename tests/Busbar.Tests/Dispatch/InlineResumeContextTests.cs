using System.Collections.Concurrent;
using Busbar.Dispatch;
using Busbar.Tests.Diagnostics;

namespace Busbar.Tests.Dispatch;

/// <summary>
/// An inline handler's continuation must see its own event (and give it as the cause of what it sends) whatever thread completed
/// the work it awaited and whenever: the continuation is posted by the thread that completes that work, which may be another
/// thread, before the send has seen the handler go asynchronous, or after the event's first await.
/// </summary>
/// <remarks>
/// The awaited work is completed deterministically: a task whose await was registered in the handler's synchronous part is
/// completed by a thread of the test's own, joined before the handler goes on, and the handler waits (bounded) for the
/// continuation to have run before it returns — so the continuation runs before the send can hand the event over.
/// </remarks>
[Collection(nameof(GlobalListenerCollection))]
public sealed class InlineResumeContextTests
{
    [EventName("resume.step")]
    public sealed record Step(int N);

    [EventName("resume.note")]
    public sealed record Note(int N);

    [EventName("resume.leaf")]
    public sealed record Leaf(int N);

    /// <summary>How the send runs the handler: the plan with a context, the plan of context-free handlers, the dispatcher with the caller's frame.</summary>
    public enum Shape
    {
        ContextHandler,
        ContextFreeHandler,
        TracedHandler,
    }

    [Theory]
    [InlineData(Shape.ContextHandler)]
    [InlineData(Shape.ContextFreeHandler)]
    [InlineData(Shape.TracedHandler)]
    public async Task SendAsync_WorkCompletedOnAnotherThreadBeforeTheHandOver_ContinuationSeesItsEventAndCausesItsSends(Shape shape)
    {
        // Before: the continuation was posted by the completing thread, which the hook took for work of no event, so it saw the
        // caller's frame as it was then (no event: the send had not handed the step over yet) and its send had no cause.
        using var tracing = shape == Shape.TracedHandler ? new SpanRecorder() : null;
        await using var bus = EventBus.Create();
        var causes = new ConcurrentDictionary<int, Guid?>();
        bus.Subscribe<Leaf>((leaf, context) => causes[leaf.N] = context.CausationId);
        var seen = new ConcurrentDictionary<int, (Guid? Expected, Guid? Sync, Guid? AfterAwait)>();
        if (shape == Shape.ContextFreeHandler)
        {
            bus.Subscribe<Step>(step =>
            {
                var sync = EventContext.Current?.EventId;
                var after = AwaitWorkCompletedElsewhere(bus, step.N);
                seen[step.N] = (sync, sync, after);
                return ValueTask.CompletedTask;
            });
        }
        else
        {
            bus.Subscribe<Step>((step, context, _) =>
            {
                var sync = EventContext.Current?.EventId;
                var after = AwaitWorkCompletedElsewhere(bus, step.N);
                seen[step.N] = (context.EventId, sync, after);
                return ValueTask.CompletedTask;
            });
        }

        for (var n = 0; n < 5; n++)
            await bus.SendAsync(new Step(n)).AsTask().Within();

        for (var n = 0; n < 5; n++)
        {
            var (expected, sync, after) = seen[n];
            Assert.NotNull(expected);
            Assert.Equal(expected, sync);
            Assert.True(expected == after, $"{shape}: step {n} saw {after?.ToString() ?? "no event"} after an await completed elsewhere, not {expected}");
            Assert.True(expected == causes[n], $"{shape}: the leaf sent after that await was caused by {causes[n]?.ToString() ?? "none"}, not {expected}");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SendAsync_NestedHandlerAwaitsWorkCompletedElsewhereAfterItsFirstAwait_SeesItsOwnEventNotTheEnclosingOne(bool bySender)
    {
        // The note's handler goes asynchronous (its first await is posted on the sending thread), then awaits work completed by
        // another thread. Before: that second continuation saw what the caller's frame named, the enclosing step (or none).
        await using var bus = EventBus.Create();
        var causes = new ConcurrentDictionary<int, Guid?>();
        bus.Subscribe<Leaf>((leaf, context) => causes[leaf.N] = context.CausationId);
        var wrong = new ConcurrentQueue<string>();
        var checkedNotes = 0;
        bus.Subscribe<Step>(async (step, context, _) =>
        {
            await (bySender ? bus.GetSender<Note>().SendAsync(new Note(step.N)) : bus.SendAsync(new Note(step.N)));
            if (!ReferenceEquals(EventContext.Current, context))
                wrong.Enqueue($"step {step.N} saw {EventContext.Current?.Event.ToString() ?? "no event"} after its nested send");
        });
        bus.Subscribe<Note>(async (note, context, _) =>
        {
            await Task.Yield();
            var after = AwaitWorkCompletedElsewhere(bus, note.N);
            if (after != context.EventId)
                wrong.Enqueue($"note {note.N} saw {after?.ToString() ?? "no event"} after its second await, not {context.EventId}");
            if (causes[note.N] != context.EventId)
                wrong.Enqueue($"leaf {note.N} caused by {causes[note.N]?.ToString() ?? "none"}, not note {context.EventId}");
            await WorkCompletedElsewhere();
            if (!ReferenceEquals(EventContext.Current, context))
                wrong.Enqueue($"note {note.N} saw {EventContext.Current?.Event.ToString() ?? "no event"} after its third await");
            Interlocked.Increment(ref checkedNotes);
        });

        for (var n = 0; n < 5; n++)
        {
            await bus.SendAsync(new Step(n)).AsTask().Within();
            Assert.Null(EventContext.Current);
        }

        Assert.True(wrong.IsEmpty, string.Join("; ", wrong));
        Assert.Equal(5, checkedNotes);
    }

    [Fact]
    public async Task SendAsync_HandlerAwaitsWorkCompletedElsewhereThenGoesAsynchronous_EveryContinuationSeesItsEvent()
    {
        // The handler's own await after work completed elsewhere: the first continuation ran before the hand-over, the handler's
        // own after it, on whichever thread the completing work chose.
        await using var bus = EventBus.Create();
        var wrong = new ConcurrentQueue<string>();
        var ended = 0;
        bus.Subscribe<Leaf>((_, _) => { });
        bus.Subscribe<Step>(async (step, context, _) =>
        {
            var after = AwaitWorkCompletedElsewhere(bus, step.N);
            if (after != context.EventId)
                wrong.Enqueue($"step {step.N} saw {after?.ToString() ?? "no event"} in its work");
            await WorkCompletedElsewhere();
            if (!ReferenceEquals(EventContext.Current, context))
                wrong.Enqueue($"step {step.N} saw {EventContext.Current?.Event.ToString() ?? "no event"} after its own await");
            await Task.Yield();
            if (!ReferenceEquals(EventContext.Current, context))
                wrong.Enqueue($"step {step.N} saw {EventContext.Current?.Event.ToString() ?? "no event"} after a yield");
            Interlocked.Increment(ref ended);
        });

        for (var n = 0; n < 5; n++)
            await bus.SendAsync(new Step(n)).AsTask().Within();

        Assert.True(wrong.IsEmpty, string.Join("; ", wrong));
        Assert.Equal(5, ended);
    }

    [Fact]
    public async Task SendAsync_EventEndedThenWorkItLeftCompletesElsewhere_WorkSeesNoEvent()
    {
        // Work a handler left running (not awaited) belongs to no event once the event has ended, whichever thread completes it.
        await using var bus = EventBus.Create();
        var release = new TaskCompletionSource();
        Task<Guid?>? leftRunning = null;
        bus.Subscribe<Step>((step, _, _) =>
        {
            if (step.N == 0)
                leftRunning = LookAfter(release.Task);
            return ValueTask.CompletedTask;
        });

        Assert.True(bus.SendAsync(new Step(0)).IsCompletedSuccessfully);
        Complete(release);

        Assert.Null(await leftRunning!.Within());

        static async Task<Guid?> LookAfter(Task awaited)
        {
            await awaited;
            return EventContext.Current?.EventId;
        }
    }

    [Fact]
    public async Task SendAsync_CallerWithItsOwnSynchronizationContext_ContinuationsRunThereSeeTheirEventAndWarmSendsAllocateNothing()
    {
        // The hook wraps the caller's context: continuations posted to it, by whichever thread, run where the caller's would, and
        // the thread keeps a hook for that context too, so a warm send under it allocates nothing.
        await using var bus = EventBus.Create();
        using var caller = new SingleThreadContext();
        var wrong = new ConcurrentQueue<string>();
        bus.Subscribe<Step>(async (step, context, _) =>
        {
            await WorkCompletedElsewhere();
            Check(step.N, context, "after work completed elsewhere");
            await Task.Yield();
            Check(step.N, context, "after a yield");
        });
        bus.Subscribe<Note>((_, _, _) => ValueTask.CompletedTask);
        var note = new Note(0);

        var allocated = await caller.RunAsync(async () =>
        {
            var own = SynchronizationContext.Current;
            for (var n = 0; n < 5; n++)
            {
                await bus.SendAsync(new Step(n));
                if (!ReferenceEquals(SynchronizationContext.Current, own))
                    wrong.Enqueue($"the caller's context after step {n} was {SynchronizationContext.Current}");
            }

            for (var i = 0; i < 10; i++)
                Assert.True(bus.SendAsync(note).IsCompletedSuccessfully);
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 100; i++)
                Assert.True(bus.SendAsync(note).IsCompletedSuccessfully);
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }).Within();

        Assert.True(wrong.IsEmpty, string.Join("; ", wrong));
        Assert.Equal(0, allocated);

        void Check(int n, EventContext context, string where)
        {
            if (!caller.IsCurrentThread)
                wrong.Enqueue($"step {n} ran off the caller's context {where}");
            if (!ReferenceEquals(EventContext.Current, context))
                wrong.Enqueue($"step {n} saw {EventContext.Current?.Event.ToString() ?? "no event"} {where}");
        }
    }

    /// <summary>
    /// Called in a handler's synchronous part: starts work that awaits a task, completes that task on a thread of its own and
    /// waits (bounded) for the work to end, which looks at <see cref="EventContext.Current"/> and sends a <see cref="Leaf"/>.
    /// </summary>
    /// <returns>The event the work saw after its await.</returns>
    internal static Guid? AwaitWorkCompletedElsewhere(IEventBus bus, int n)
    {
        // Continuations not forced asynchronous: the completing thread posts the work's continuation to what the await captured.
        var awaited = new TaskCompletionSource();
        var work = LookAndSendAsync(awaited.Task, bus, n);
        Assert.False(work.IsCompleted);
        Complete(awaited);
        Assert.True(((IAsyncResult)work).AsyncWaitHandle.WaitOne(TestTimeout.Default), "the work never ended");
        return work.GetAwaiter().GetResult();

        static async Task<Guid?> LookAndSendAsync(Task awaited, IEventBus bus, int n)
        {
            await awaited;
            var seen = EventContext.Current?.EventId;
            await bus.SendAsync(new Leaf(n));
            return seen;
        }
    }

    /// <summary>A task completed by a thread of its own, before or after its await registers (either way the await must end as its own).</summary>
    internal static Task WorkCompletedElsewhere()
    {
        var awaited = new TaskCompletionSource();
        var completer = new Thread(() => awaited.SetResult()) { IsBackground = true };
        completer.Start();
        return awaited.Task;
    }

    /// <summary>Completes <paramref name="source"/> on a thread of its own and waits (bounded) for that thread.</summary>
    internal static void Complete(TaskCompletionSource source)
    {
        var completer = new Thread(() => source.SetResult()) { IsBackground = true };
        completer.Start();
        Assert.True(completer.Join(TestTimeout.Default), "the completing thread never ended");
    }

    /// <summary>A synchronization context that runs what is posted to it, one at a time, on a thread of its own (as a UI thread would).</summary>
    private sealed class SingleThreadContext : SynchronizationContext, IDisposable
    {
        private readonly System.Collections.Concurrent.BlockingCollection<(SendOrPostCallback Callback, object? State)> _queue = [];
        private readonly Thread _thread;

        public SingleThreadContext()
        {
            _thread = new Thread(() =>
            {
                SetSynchronizationContext(this);
                foreach (var (callback, state) in _queue.GetConsumingEnumerable())
                    callback(state);
            })
            {
                IsBackground = true,
            };
            _thread.Start();
        }

        public bool IsCurrentThread => Thread.CurrentThread == _thread;

        public override void Post(SendOrPostCallback d, object? state) => _queue.Add((d, state));

        public override void Send(SendOrPostCallback d, object? state) => throw new NotSupportedException();

        public override SynchronizationContext CreateCopy() => this;

        /// <summary>Runs <paramref name="work"/> on this context's thread, its continuations there too.</summary>
        public Task<T> RunAsync<T>(Func<Task<T>> work)
        {
            var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
            // The task is observed through done: RunToAsync catches everything.
            Post(_ => _ = RunToAsync(work, done), null);
            return done.Task;
        }

        private static async Task RunToAsync<T>(Func<Task<T>> work, TaskCompletionSource<T> done)
        {
            try
            {
                done.SetResult(await work());
            }
            catch (Exception ex)
            {
                done.SetException(ex);
            }
        }

        public void Dispose()
        {
            _queue.CompleteAdding();
            _thread.Join(TestTimeout.Default);
            _queue.Dispose();
        }
    }
}

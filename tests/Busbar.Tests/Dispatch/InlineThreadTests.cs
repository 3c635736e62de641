using Busbar.Tests.Diagnostics;
using Microsoft.Extensions.Time.Testing;

namespace Busbar.Tests.Dispatch;

/// <summary>
/// An inline send finds the caller's ambient frame through the thread's cache (<c>InlineThread.AcquireFrame</c>) when the flow is
/// the last send's: every other flow on the same thread — an invoked event's handler, an ended handler's captured flow, a flow with
/// its own async-locals or a suppressed one — must still see its own handler, or none.
/// </summary>
[Collection(nameof(GlobalListenerCollection))]
public sealed class InlineThreadTests
{
    [EventName("inline-thread.tick")]
    public sealed record Tick(int N);

    [EventName("inline-thread.outer")]
    public sealed record Outer(int N);

    private static readonly AsyncLocal<int> s_userLocal = new();

    [Fact]
    public async Task SendAsync_ContextReusedAfterIdsClockLineageHeadersAndTheDispatcher_StartsClean()
    {
        // The thread's spare context is reset by writing back only what a send changed: every kind of change must still be undone.
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 3, 0, 0, TimeSpan.Zero));
        await using var bus = new EventBusBuilder().WithTimeProvider(time).Build();
        var seen = new List<(int N, Guid Id, DateTimeOffset CreatedAt, Guid? Cause, Guid Correlation, int Headers)>();
        var ids = new List<Guid>();
        bus.Subscribe<Tick>((tick, context, _) =>
        {
            seen.Add((tick.N, context.EventId, context.CreatedAt, context.CausationId, context.CorrelationId, context.Headers.Count));
            return ValueTask.CompletedTask;
        });
        bus.Subscribe<Outer>(async (outer, context, _) =>
        {
            ids.Add(context.EventId);
            // A nested send: its context takes a lineage, and is the one the thread keeps after this send.
            await bus.SendAsync(new Tick(outer.N));
        });

        var sentAt = new Dictionary<int, DateTimeOffset>();
        for (var round = 0; round < 4; round++)
        {
            var n = round * 10;
            // Invoked, so the context the thread keeps afterwards is the nested tick's, which has a cause; sent on odd rounds.
            if (round % 2 == 0)
            {
                time.Advance(TimeSpan.FromSeconds(1));
                sentAt[n] = time.GetUtcNow();
                await bus.InvokeAsync(new Outer(n));
            }
            else
            {
                await SendAt(n, new Outer(n));
            }

            await SendAt(n + 1, new Tick(n + 1));
            if (round == 1)
            {
                // Through the dispatcher (a listener wants spans), which leaves its own state on a context it ends synchronously.
                using var listener = new SpanRecorder();
                await SendAt(n + 2, new Tick(n + 2));
            }

            sentAt[n + 3] = time.GetUtcNow();
            await bus.InvokeAsync(new Tick(n + 3), new PublishOptions { Headers = new Dictionary<string, string> { ["k"] = "v" } });
            await SendAt(n + 4, new Tick(n + 4));
        }

        Assert.Equal(17, seen.Count);
        Assert.Equal(seen.Count, seen.Select(s => s.Id).Distinct().Count());
        foreach (var (n, id, createdAt, cause, correlation, headers) in seen)
        {
            Assert.Equal(sentAt[n], createdAt);
            Assert.Equal(n % 10 == 3 ? 1 : 0, headers);
            if (n % 10 == 0)
            {
                // The nested tick: caused by its outer event, in the outer event's correlation.
                Assert.Equal(ids[n / 10], cause);
                Assert.Equal(ids[n / 10], correlation);
            }
            else
            {
                Assert.Null(cause);
                Assert.Equal(id, correlation);
            }
        }

        async Task SendAt<T>(int n, T @event)
            where T : notnull
        {
            time.Advance(TimeSpan.FromSeconds(1));
            sentAt[n] = time.GetUtcNow();
            await bus.SendAsync(@event);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task SendAsync_TopLevelSendThenSendFromInvokedHandlerOnSameThread_ChildCausedByTheInvokedEvent(bool contextHandler)
    {
        await using var bus = EventBus.Create();
        var sender = bus.GetSender<Tick>();
        var causes = new List<Guid?>();
        if (contextHandler)
            bus.Subscribe<Tick>((_, context) => causes.Add(context.CausationId));
        else
            bus.Subscribe<Tick>(_ => causes.Add(EventContext.Current!.CausationId));
        Guid outerId = default;
        bus.Subscribe<Outer>((_, context) =>
        {
            outerId = context.EventId;
            // Synchronous on the test's thread, in the invoked event's flow: not the flow of the send before.
            Assert.True(sender.SendAsync(new Tick(2)).IsCompletedSuccessfully);
        });

        Assert.True(sender.SendAsync(new Tick(1)).IsCompletedSuccessfully);
        Assert.True(bus.InvokeAsync(new Outer(1)).IsCompletedSuccessfully);
        Assert.True(sender.SendAsync(new Tick(3)).IsCompletedSuccessfully);

        Assert.Equal([null, outerId, null], causes);
    }

    [Fact]
    public async Task SendAsync_InTheCapturedFlowOfAnEndedHandler_ChildHasNoCause()
    {
        await using var bus = EventBus.Create();
        var sender = bus.GetSender<Tick>();
        var causes = new List<Guid?>();
        bus.Subscribe<Tick>((_, context) => causes.Add(context.CausationId));
        ExecutionContext? handlerFlow = null;
        Guid outerId = default;
        bus.Subscribe<Outer>((_, context) =>
        {
            outerId = context.EventId;
            Assert.True(sender.SendAsync(new Tick(1)).IsCompletedSuccessfully);
            handlerFlow = ExecutionContext.Capture();
        });

        Assert.True(bus.InvokeAsync(new Outer(1)).IsCompletedSuccessfully);
        // The flow the handler's send ran in, the one the thread's cache remembers, now belongs to an ended event.
        ExecutionContext.Run(handlerFlow!, _ => Assert.True(sender.SendAsync(new Tick(2)).IsCompletedSuccessfully), null);

        Assert.Equal([outerId, null], causes);
    }

    [Theory]
    [InlineData(16)]
    [InlineData(2026)]
    [InlineData(7)]
    public async Task SendAsync_RandomFlowsOnOneThread_EachSendCausedByTheHandlerItsFlowSees(int seed)
    {
        Console.WriteLine($"InlineThreadTests flow mix seed: {seed}");
        var random = new Random(seed);
        await using var bus = EventBus.Create(new EventBusOptions { Name = $"inline-thread-{seed}-{Guid.NewGuid():N}" });
        var sender = bus.GetSender<Tick>();
        var wrong = new List<string>();
        var runs = 0;
        Guid? expected = null;
        var op = "";
        var suppressed = false;
        var subscriptions = new List<ISubscription>();
        var flows = new List<ExecutionContext>();
        SpanRecorder? listener = null;

        void Check(Tick tick, EventContext? context, EventContext? current, string kind)
        {
            Interlocked.Increment(ref runs);
            // A suppressed flow does not carry the ambient frame across an await (nothing flows), before and after this change:
            // a handler there may see no event, but never another one.
            if (suppressed && current is null)
                return;
            if (context is null || !ReferenceEquals(current, context) || !ReferenceEquals(context.Event, tick))
                wrong.Add($"{tick.N} ({kind}, {op}): current {current?.Event}, own {context?.Event}");
            else if (context.CausationId != expected)
                wrong.Add($"{tick.N} ({kind}, {op}): caused by {context.CausationId}, expected {expected}");
        }

        void Subscribe(int kind) => subscriptions.Add(kind switch
        {
            0 => bus.Subscribe<Tick>(t => Check(t, EventContext.Current, EventContext.Current, "action")),
            1 => bus.Subscribe<Tick>((t, context) => Check(t, context, EventContext.Current, "context")),
            2 => bus.Subscribe<Tick>(async (t, context, _) =>
            {
                await Task.Yield();
                Check(t, context, EventContext.Current, "context, after an await");
            }),
            _ => bus.Subscribe<Tick>(async t =>
            {
                await Task.Yield();
                Check(t, EventContext.Current, EventContext.Current, "context-free, after an await");
            }),
        });

        Task SendAsync(int n, bool bySender) => (bySender ? sender.SendAsync(new Tick(n)) : bus.SendAsync(new Tick(n))).Within();

        bus.Subscribe<Outer>(async (outer, context, _) =>
        {
            expected = context.EventId;
            await SendAsync(outer.N, outer.N % 2 == 0);
            // Kept for a later send in the flow of this (then ended) handler.
            flows.Add(ExecutionContext.Capture()!);
            expected = null;
        });
        Subscribe(1);

        try
        {
            for (var step = 0; step < 400; step++)
            {
                var bySender = random.Next(2) == 0;
                var roll = random.Next(12);
                op = $"op {roll}, {(bySender ? "sender" : "bus")}, {(listener is null ? "plan" : "listener")}";
                switch (roll)
                {
                    case 0:
                        Subscribe(random.Next(4));
                        break;
                    case 1 when subscriptions.Count > 1:
                        var at = random.Next(subscriptions.Count);
                        subscriptions[at].Dispose();
                        subscriptions.RemoveAt(at);
                        break;
                    case 2:
                        // A tracing listener attaches or leaves mid-run: sends in between take the dispatcher.
                        if (listener is null)
                        {
                            listener = new SpanRecorder();
                        }
                        else
                        {
                            listener.Dispose();
                            listener = null;
                        }

                        break;
                    case 3:
                        (await bus.InvokeAsync(new Outer(step)).Within()).ThrowIfFailed();
                        break;
                    case 4 when flows.Count > 0:
                        var flow = flows[random.Next(flows.Count)];
                        Task? inFlow = null;
                        ExecutionContext.Run(flow, _ => inFlow = SendAsync(step, bySender), null);
                        await inFlow!;
                        break;
                    case 5:
                        Task withoutFlow;
                        suppressed = true;
                        using (ExecutionContext.SuppressFlow())
                            withoutFlow = SendAsync(step, bySender);
                        await withoutFlow;
                        suppressed = false;
                        break;
                    case 6:
                        await WithUserLocalAsync(step, bySender);
                        break;
                    default:
                        await SendAsync(step, bySender);
                        break;
                }
            }
        }
        finally
        {
            listener?.Dispose();
        }

        Assert.True(runs > 300, $"seed {seed}: only {runs} handler runs");
        Assert.True(wrong.Count == 0, $"seed {seed}: {wrong.Count} wrong:\n{string.Join("\n", wrong.Take(10))}");

        async Task WithUserLocalAsync(int n, bool viaSender)
        {
            // The user's own async-local write makes a new flow: the send runs in it, not in the last send's.
            s_userLocal.Value = n;
            await SendAsync(n, viaSender);
        }
    }

    private sealed class FlowPayload;

    private static readonly AsyncLocal<FlowPayload?> s_flowPayload = new();

    [Fact]
    public async Task SendAsync_FlowWithAsyncLocalsEnded_ThreadKeepsNothingOfItUntilItsNextSend()
    {
        // Before, the thread's cache kept the last send's execution context, and so every async-local value of that flow,
        // reachable until the next send on the thread: here, as long as the thread lived.
        await using var bus = EventBus.Create();
        bus.Subscribe<Tick>((_, _, _) => ValueTask.CompletedTask);
        using var flowEnded = new ManualResetEventSlim();
        using var checkedReachable = new ManualResetEventSlim();
        WeakReference? payload = null;
        var sender = new Thread(() =>
        {
            payload = SendInAFlowOfItsOwn(bus);
            flowEnded.Set();
            // The thread (and its inline state) lives on, with no further send, until the test has looked.
            checkedReachable.Wait(TestTimeout.Default);
        })
        {
            IsBackground = true,
        };
        sender.Start();
        Assert.True(flowEnded.Wait(TestTimeout.Default));

        try
        {
            for (var i = 0; i < 10 && payload!.IsAlive; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }

            Assert.False(payload!.IsAlive, "the flow's async-local value is still reachable after its send");
        }
        finally
        {
            checkedReachable.Set();
            Assert.True(sender.Join(TestTimeout.Default));
        }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static WeakReference SendInAFlowOfItsOwn(IEventBus bus)
    {
        WeakReference? weak = null;
        ExecutionContext.Run(
            ExecutionContext.Capture()!,
            _ =>
            {
                var value = new FlowPayload();
                weak = new WeakReference(value);
                s_flowPayload.Value = value;
                // Twice: the second send finds the frame through the thread's cache of this flow.
                Assert.True(bus.SendAsync(new Tick(1)).IsCompletedSuccessfully);
                Assert.True(bus.SendAsync(new Tick(2)).IsCompletedSuccessfully);
            },
            null);
        return weak!;
    }
}

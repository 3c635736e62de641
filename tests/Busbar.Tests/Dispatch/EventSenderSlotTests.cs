using Busbar.Dispatch;
using Busbar.Tests.Diagnostics;

namespace Busbar.Tests.Dispatch;

/// <summary>
/// <see cref="IEventBus.SendAsync{T}"/> is not virtual: it sends through the bus's <see cref="EventSender{T}"/>, found through slots
/// per event type that remember the last buses used. A slot must never hand one bus's sender to another, a bus that is not Busbar's
/// own must still be sendable to, and the three ways in (the interface, a sender, the bus's own class) must do exactly the same.
/// </summary>
[Collection(nameof(GlobalListenerCollection))]
public sealed class EventSenderSlotTests
{
    [EventName("slot.tick")]
    public sealed record Tick(int N, string Bus);

    [EventName("slot.leaf")]
    public sealed record Leaf(int N, string Bus, Guid ParentId, Guid? ParentCorrelation);

    [EventName("slot.beat")]
    public readonly record struct Beat(int N, string Bus);

    [Fact]
    public async Task SendAsync_ThreeBusesOfOneTypeInTurn_EachSendRunsOnlyItsOwnBusHandlers()
    {
        IEventBus[] buses = [EventBus.Create(), EventBus.Create(), EventBus.Create()];
        var runs = new int[buses.Length];
        var wrong = new List<string>();
        for (var b = 0; b < buses.Length; b++)
        {
            var index = b;
            var name = buses[b].Name;
            buses[b].Subscribe<Tick>(t =>
            {
                runs[index]++;
                if (t.Bus != name)
                    wrong.Add($"{name} ran {t.Bus}'s event {t.N}");
            });
        }

        try
        {
            // In turn (two buses: both slots hit; three: every send misses both), then in a fixed shuffled order.
            var order = new List<int>();
            for (var i = 0; i < 200; i++)
                order.Add(i % 2);
            for (var i = 0; i < 300; i++)
                order.Add(i % 3);
            var random = new Random(16);
            for (var i = 0; i < 500; i++)
                order.Add(random.Next(buses.Length));

            var n = 0;
            foreach (var b in order)
                await buses[b].SendAsync(new Tick(n++, buses[b].Name));

            Assert.Empty(wrong);
            for (var b = 0; b < buses.Length; b++)
                Assert.Equal(order.Count(o => o == b), runs[b]);
        }
        finally
        {
            foreach (var bus in buses)
                await bus.DisposeAsync();
        }
    }

    [EventName("slot.only-here")]
    public sealed record OnlyHere(int N);

    [Fact]
    public void SendAsync_BusesSentToThroughTheInterfaceThenDisposed_NoLongerReachableFromTheSlots()
    {
        // Before, the two slots of the event type kept the last two buses that sent it through the interface reachable (their
        // senders, and through them their handlers and everything these hold) until other buses sent the same type. Sent from a
        // thread that then ends, so that what a thread and a flow keep of their last send (the spare context, the frame) goes too.
        var buses = OnAThreadThatEnds(SendThroughTheInterfaceAndDispose);
        for (var i = 0; i < 10 && buses.Any(b => b.IsAlive); i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        Assert.False(buses[0].IsAlive, "the first disposed bus is still reachable");
        Assert.False(buses[1].IsAlive, "the second disposed bus is still reachable");
    }

    /// <summary>Runs <paramref name="work"/> on a thread of its own that has ended when this returns, and which nothing references then.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static T OnAThreadThatEnds<T>(Func<T> work)
    {
        T result = default!;
        var thread = new Thread(() => result = work()) { IsBackground = true };
        thread.Start();
        Assert.True(thread.Join(TestTimeout.Default));
        return result;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static WeakReference[] SendThroughTheInterfaceAndDispose()
    {
        IEventBus first = EventBus.Create();
        IEventBus second = EventBus.Create();
        var runs = 0;
        first.Subscribe<OnlyHere>(_ => runs++);
        second.Subscribe<OnlyHere>(_ => runs++);
        for (var i = 0; i < 3; i++)
        {
            Assert.True(first.SendAsync(new OnlyHere(i)).IsCompletedSuccessfully);
            Assert.True(second.SendAsync(new OnlyHere(i)).IsCompletedSuccessfully);
        }

        // Blocking is fine on this thread of the test's own.
        first.DisposeAsync().AsTask().GetAwaiter().GetResult();
        second.DisposeAsync().AsTask().GetAwaiter().GetResult();
        // A send after the dispose is refused, and must not put the bus back into a slot either. Caught by hand: through
        // Assert.Throws the bus stayed reachable in this test whatever the slots held.
        Exception? refused = null;
        try
        {
            first.SendAsync(new OnlyHere(9)).AsTask().GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            refused = ex;
        }

        Assert.IsType<BusStoppedException>(refused);
        Assert.Equal(6, runs);
        return [new WeakReference(first), new WeakReference(second)];
    }

    [Theory]
    [InlineData(SendPath.Interface)]
    [InlineData(SendPath.Sender)]
    [InlineData(SendPath.BusClass)]
    public void SendAsync_HandlerCapturingItsBusThenDisposed_BusNoLongerReachable(SendPath path)
    {
        // Before, the static per-type slots of inline plans and routes (one entry per bus ever created) kept the last plan and
        // route of a disposed bus, and through its handlers whatever they captured: here, the bus itself.
        var bus = OnAThreadThatEnds(() =>
        {
            var created = EventBus.Create();
            var runs = 0;
            created.Subscribe<OnlyHere>(_ =>
            {
                runs++;
                GC.KeepAlive(created);
            });
            for (var i = 0; i < 3; i++)
            {
                var pending = path switch
                {
                    SendPath.Interface => ((IEventBus)created).SendAsync(new OnlyHere(i)),
                    SendPath.Sender => created.GetSender<OnlyHere>().SendAsync(new OnlyHere(i)),
                    _ => ((InProcessEventBus)created).SendAsync(new OnlyHere(i)),
                };
                Assert.True(pending.IsCompletedSuccessfully);
            }

            created.DisposeAsync().AsTask().GetAwaiter().GetResult();
            Assert.Equal(3, runs);
            return new WeakReference(created);
        });
        for (var i = 0; i < 10 && bus.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        Assert.False(bus.IsAlive, $"{path}: the disposed bus is still reachable through its handler");
    }

    [Fact]
    public async Task SendAsync_TwoBusesInTurnWarm_AllocatesNothing()
    {
        await using var a = EventBus.Create();
        await using var b = EventBus.Create();
        var runs = 0;
        a.Subscribe<Tick>(_ => runs++);
        b.Subscribe<Tick>((_, _, _) =>
        {
            runs++;
            return ValueTask.CompletedTask;
        });
        var onA = new Tick(1, a.Name);
        var onB = new Tick(2, b.Name);
        for (var i = 0; i < 100; i++)
        {
            await a.SendAsync(onA);
            await b.SendAsync(onB);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1_000; i++)
        {
            Assert.True(a.SendAsync(onA).IsCompletedSuccessfully);
            Assert.True(b.SendAsync(onB).IsCompletedSuccessfully);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(2_200, runs);
    }

    [Fact]
    public async Task SendAsync_BusNotBusbars_InvokesThroughItAndThrowsTheHandlerFailure()
    {
        await using var inner = EventBus.Create();
        var foreignBus = new ForeignBus(inner, ownSenders: true);
        IEventBus foreign = foreignBus;
        var seen = new List<int>();
        inner.Subscribe<Tick>(t =>
        {
            seen.Add(t.N);
            if (t.N == 2)
                throw new InvalidOperationException("two refused");
        });

        await foreign.SendAsync(new Tick(1, inner.Name));
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(async () => await foreign.SendAsync(new Tick(2, inner.Name)));
        await foreign.GetSender<Tick>().SendAsync(new Tick(3, inner.Name));

        Assert.Equal("two refused", failure.Message);
        Assert.Equal([1, 2, 3], seen);
        Assert.Equal(3, foreignBus.Invokes);
        Assert.Throws<ArgumentNullException>("event", () => { _ = foreign.SendAsync<Tick>(null!); });
        Assert.Equal(3, foreignBus.Invokes);
    }

    [Fact]
    public async Task SendAsync_DecoratorHandingOutTheInnerSender_SendsToTheInnerBusAndTheSlotNeverAnswersForTheDecorator()
    {
        await using var inner = EventBus.Create();
        await using var other = EventBus.Create();
        var decoratorBus = new ForeignBus(inner, ownSenders: false);
        IEventBus decorator = decoratorBus;
        var innerRuns = 0;
        var otherRuns = 0;
        inner.Subscribe<Tick>(_ => innerRuns++);
        other.Subscribe<Tick>(_ => otherRuns++);

        for (var i = 0; i < 10; i++)
        {
            await decorator.SendAsync(new Tick(i, inner.Name));
            await other.SendAsync(new Tick(i, other.Name));
            await inner.SendAsync(new Tick(i, inner.Name));
        }

        Assert.Equal(20, innerRuns);
        Assert.Equal(10, otherRuns);
        Assert.Equal(10, decoratorBus.SenderRequests);
        Assert.Equal(0, decoratorBus.Invokes);
    }

    [Fact]
    public async Task SendAsync_StructEventOnTwoBuses_RunsEachBusHandlersAndAllocatesNothing()
    {
        await using var a = EventBus.Create();
        await using var b = EventBus.Create();
        var onA = 0;
        var onB = 0;
        var wrongBus = 0;
        a.Subscribe<Beat>(beat => _ = beat.Bus == a.Name ? onA++ : wrongBus++);
        b.Subscribe<Beat>(beat => _ = beat.Bus == b.Name ? onB++ : wrongBus++);
        var senderA = a.GetSender<Beat>();
        var senderB = b.GetSender<Beat>();
        for (var i = 0; i < 10; i++)
        {
            await a.SendAsync(new Beat(i, a.Name));
            await b.SendAsync(new Beat(i, b.Name));
            await senderA.SendAsync(new Beat(i, a.Name));
            await senderB.SendAsync(new Beat(i, b.Name));
        }

        // A struct event sent to handlers that take no context is never boxed, through the interface (two buses in turn, so
        // the type's slots change hands) as through the senders.
        var throughInterface = Allocations.SteadyRoundBytes(() =>
        {
            for (var i = 0; i < 100; i++)
            {
                Assert.True(a.SendAsync(new Beat(i, a.Name)).IsCompletedSuccessfully);
                Assert.True(b.SendAsync(new Beat(i, b.Name)).IsCompletedSuccessfully);
            }
        });
        var throughSenders = Allocations.SteadyRoundBytes(() =>
        {
            for (var i = 0; i < 100; i++)
            {
                Assert.True(senderA.SendAsync(new Beat(i, a.Name)).IsCompletedSuccessfully);
                Assert.True(senderB.SendAsync(new Beat(i, b.Name)).IsCompletedSuccessfully);
            }
        });

        Assert.Equal(0, throughInterface);
        Assert.Equal(0, throughSenders);
        Assert.Equal(0, wrongBus);
        Assert.Equal(onA, onB);
        Assert.True(onA >= 220, $"{onA} sends handled on each bus: 20 to warm up, then at least one round of 100 through each path");
    }

    [Theory]
    [InlineData(3)]
    [InlineData(16)]
    [InlineData(1201)]
    [InlineData(20261201)]
    public async Task SendAsync_RandomMixOfPathsTypesAndBuses_EveryHandlerRunsForItsOwnBusWithCurrentAndCausationExact(int seed)
    {
        Console.WriteLine($"EventSenderSlotTests mix seed: {seed}");
        var random = new Random(seed);
        await using var a = new MixBus("slot-mix-a-" + Guid.NewGuid().ToString("N"));
        await using var b = new MixBus("slot-mix-b-" + Guid.NewGuid().ToString("N"));
        MixBus[] buses = [a, b];
        SpanRecorder? listener = null;
        var sends = 0;
        try
        {
            for (var step = 0; step < 1_500; step++)
            {
                var bus = buses[random.Next(2)];
                var roll = random.Next(40);
                if (roll < 4 || bus.Active.Count == 0)
                {
                    bus.Subscribe((HandlerKind)random.Next(Enum.GetValues<HandlerKind>().Length));
                }
                else if (roll < 6)
                {
                    bus.Unsubscribe(random.Next(bus.Active.Count));
                }
                else if (roll < 7)
                {
                    // A tracing listener attaches or leaves mid-run: the sends in between take the dispatcher, on every path.
                    if (listener is null)
                    {
                        listener = new SpanRecorder();
                    }
                    else
                    {
                        listener.Dispose();
                        listener = null;
                    }
                }
                else
                {
                    var path = (SendPath)random.Next(3);
                    var type = random.Next(3);
                    sends++;
                    await bus.SendAsync(step, type, path);
                }
            }

            foreach (var bus in buses)
            {
                Assert.True(bus.Wrong.Count == 0, $"seed {seed}, {bus.Name}: {string.Join("; ", bus.Wrong.Take(5))}");
                Assert.True(bus.Mismatches.Count == 0, $"seed {seed}, {bus.Name}: {string.Join("; ", bus.Mismatches.Take(5))}");
            }

            Assert.True(sends > 1_000, $"seed {seed}: only {sends} sends");
            Assert.True(a.Runs + b.Runs > 2_000, $"seed {seed}: only {a.Runs + b.Runs} handler runs");
            Assert.True(a.NestedChecked + b.NestedChecked > 20, $"seed {seed}: only {a.NestedChecked + b.NestedChecked} nested sends checked");
        }
        finally
        {
            listener?.Dispose();
        }
    }

    public enum SendPath
    {
        Interface,
        Sender,
        BusClass,
    }

    private enum HandlerKind
    {
        TickAction,
        TickActionReadingCurrent,
        TickContext,
        TickContextAsync,
        TickContextFreeAsync,
        TickThrowsOnEven,
        TickNester,
        TickNesterElsewhere,
        LeafContext,
        LeafAsync,
        LeafAwaitsElsewhere,
        BeatAction,
    }

    /// <summary>
    /// One of the two buses of the mix: its handlers, which of them are subscribed, and the model of what each send must run.
    /// Every handler checks that the event is its own bus's and that it sees its own event as current (also after every await, of
    /// work completed on the sending thread or on another one);
    /// every leaf handler checks the leaf's causation and correlation against the tick that sent it (none for a top-level send).
    /// </summary>
    private sealed class MixBus(string name) : IAsyncDisposable
    {
        private readonly Dictionary<(int Slot, string Event), int> _ran = [];
        private int _slots;

        public IEventBus Bus { get; } = EventBus.Create(new EventBusOptions { Name = name });

        public string Name => name;

        public List<(int Slot, HandlerKind Kind, ISubscription Subscription)> Active { get; } = [];

        public List<string> Wrong { get; } = [];

        public List<string> Mismatches { get; } = [];

        public int Runs { get; private set; }

        public int NestedChecked { get; private set; }

        public void Subscribe(HandlerKind kind)
        {
            var slot = _slots++;
            ISubscription subscription = kind switch
            {
                HandlerKind.TickAction => Bus.Subscribe<Tick>(t => Ran(slot, t.Bus, $"t{t.N}")),
                HandlerKind.TickActionReadingCurrent => Bus.Subscribe<Tick>(t =>
                {
                    Ran(slot, t.Bus, $"t{t.N}");
                    if (EventContext.Current is not { } current || !ReferenceEquals(current.Event, t))
                        Wrong.Add($"{slot}: t{t.N} saw {EventContext.Current?.Event}");
                }),
                HandlerKind.TickContext => Bus.Subscribe<Tick>((t, context, _) =>
                {
                    Ran(slot, t.Bus, $"t{t.N}");
                    if (!ReferenceEquals(EventContext.Current, context) || !ReferenceEquals(context.Event, t))
                        Wrong.Add($"{slot}: t{t.N} not current");
                    return ValueTask.CompletedTask;
                }),
                HandlerKind.TickContextAsync => Bus.Subscribe<Tick>(async (t, context, _) =>
                {
                    await Task.Yield();
                    Ran(slot, t.Bus, $"t{t.N}");
                    if (!ReferenceEquals(EventContext.Current, context))
                        Wrong.Add($"{slot}: t{t.N} not current after an await");
                }),
                HandlerKind.TickContextFreeAsync => Bus.Subscribe<Tick>(async t =>
                {
                    await Task.Yield();
                    Ran(slot, t.Bus, $"t{t.N}");
                    if (EventContext.Current is not { } current || !ReferenceEquals(current.Event, t))
                        Wrong.Add($"{slot}: t{t.N} saw {EventContext.Current?.Event} after an await");
                }),
                HandlerKind.TickThrowsOnEven => Bus.Subscribe<Tick>(t =>
                {
                    Ran(slot, t.Bus, $"t{t.N}");
                    if (t.N % 2 == 0)
                        throw new InvalidOperationException($"slot {slot} refuses t{t.N}");
                }),
                HandlerKind.TickNester => Bus.Subscribe<Tick>(async (t, context, _) =>
                {
                    Ran(slot, t.Bus, $"t{t.N}");
                    // A nested send through each path in turn: its handlers must see this tick as the leaf's cause.
                    var leaf = new Leaf(t.N, name, context.EventId, context.CorrelationId);
                    var pending = (t.N % 3) switch
                    {
                        0 => Bus.SendAsync(leaf),
                        1 => Bus.GetSender<Leaf>().SendAsync(leaf),
                        _ => ((InProcessEventBus)Bus).SendAsync(leaf),
                    };
                    await pending;
                    // Also when the nested send went asynchronous and its end resumed this handler on another thread before the send
                    // had handed this event over.
                    CheckCurrent(slot, $"t{t.N}", context, "after its nested send");
                }),
                HandlerKind.TickNesterElsewhere => Bus.Subscribe<Tick>(async (t, context, _) =>
                {
                    Ran(slot, t.Bus, $"t{t.N}");
                    // Work completed on a thread of its own at one of three points: in the synchronous part (its continuation runs
                    // before the send can hand the tick over), as the handler's first await, or after a first await.
                    switch ((t.N + slot) % 3)
                    {
                        case 0:
                            var seen = InlineResumeContextTests.AwaitWorkCompletedElsewhere(Bus, t.N);
                            if (seen != context.EventId)
                                Wrong.Add($"{slot}: t{t.N} saw {seen?.ToString() ?? "no event"} in work completed elsewhere");
                            break;
                        case 1:
                            await InlineResumeContextTests.WorkCompletedElsewhere();
                            CheckCurrent(slot, $"t{t.N}", context, "after work completed elsewhere");
                            break;
                        default:
                            await Task.Yield();
                            CheckCurrent(slot, $"t{t.N}", context, "after a yield");
                            await InlineResumeContextTests.WorkCompletedElsewhere();
                            CheckCurrent(slot, $"t{t.N}", context, "after a yield and work completed elsewhere");
                            break;
                    }

                    // Its leaf, caused by this tick whichever thread sends it.
                    var leaf = new Leaf(t.N, name, context.EventId, context.CorrelationId);
                    await ((t.N / 3) % 2 == 0 ? Bus.SendAsync(leaf) : Bus.GetSender<Leaf>().SendAsync(leaf));
                    CheckCurrent(slot, $"t{t.N}", context, "after its nested send");
                    await InlineResumeContextTests.WorkCompletedElsewhere();
                    CheckCurrent(slot, $"t{t.N}", context, "after its last await");
                }),
                HandlerKind.LeafContext => Bus.Subscribe<Leaf>((leaf, context, _) =>
                {
                    CheckLeaf(slot, leaf, context);
                    return ValueTask.CompletedTask;
                }),
                HandlerKind.LeafAsync => Bus.Subscribe<Leaf>(async (leaf, context, _) =>
                {
                    await Task.Yield();
                    CheckLeaf(slot, leaf, context);
                }),
                HandlerKind.LeafAwaitsElsewhere => Bus.Subscribe<Leaf>(async (leaf, context, _) =>
                {
                    await InlineResumeContextTests.WorkCompletedElsewhere();
                    CheckCurrent(slot, $"l{leaf.N}", context, "after work completed elsewhere");
                    await InlineResumeContextTests.WorkCompletedElsewhere();
                    CheckLeaf(slot, leaf, context);
                }),
                _ => Bus.Subscribe<Beat>(beat => Ran(slot, beat.Bus, $"b{beat.N}")),
            };
            Active.Add((slot, kind, subscription));
        }

        public void Unsubscribe(int index)
        {
            Active[index].Subscription.Dispose();
            Active.RemoveAt(index);
        }

        public async Task SendAsync(int step, int type, SendPath path)
        {
            // What the send must run, from the model: every active handler of the type once; of a tick, the nesters' leaves too.
            var kinds = Active.ToList();
            var ticks = kinds.Where(k => k.Kind < HandlerKind.LeafContext).ToList();
            var leaves = kinds.Where(k => k.Kind is HandlerKind.LeafContext or HandlerKind.LeafAsync or HandlerKind.LeafAwaitsElsewhere).ToList();
            var expected = new Dictionary<(int Slot, string Event), int>();
            string label;
            bool fails;
            ValueTask pending;
            switch (type)
            {
                case 0:
                    var tick = new Tick(step, name);
                    label = $"t{step}";
                    foreach (var (slot, _, _) in ticks)
                        expected[(slot, label)] = 1;
                    var nesters = ticks.Count(k => k.Kind is HandlerKind.TickNester or HandlerKind.TickNesterElsewhere);
                    foreach (var (slot, _, _) in leaves)
                        expected[(slot, $"l{step}")] = nesters;
                    fails = step % 2 == 0 && ticks.Any(k => k.Kind == HandlerKind.TickThrowsOnEven);
                    pending = Send(tick, path);
                    break;
                case 1:
                    var leaf = new Leaf(step, name, Guid.Empty, null);
                    label = $"l{step}";
                    foreach (var (slot, _, _) in leaves)
                        expected[(slot, label)] = 1;
                    fails = false;
                    pending = Send(leaf, path);
                    break;
                default:
                    var beat = new Beat(step, name);
                    label = $"b{step}";
                    foreach (var (slot, _, _) in kinds.Where(k => k.Kind == HandlerKind.BeatAction))
                        expected[(slot, label)] = 1;
                    fails = false;
                    pending = Send(beat, path);
                    break;
            }

            Exception? failure = null;
            try
            {
                await pending.AsTask().Within();
            }
            catch (Exception ex)
            {
                failure = ex;
            }

            // One refusing handler throws its exception, several an AggregateException of theirs.
            var refused = failure is InvalidOperationException
                || failure is AggregateException { InnerExceptions: var inners } && inners.All(e => e is InvalidOperationException);
            if (fails != refused || (failure is not null && !refused))
                Mismatches.Add($"{label} via {path}: expected {(fails ? "a failure" : "success")}, got {failure?.GetType().Name ?? "success"}");
            var ran = new Dictionary<(int Slot, string Event), int>(_ran);
            var want = expected.Where(e => e.Value > 0).ToDictionary();
            if (ran.Count != want.Count || ran.Any(r => !want.TryGetValue(r.Key, out var count) || count != r.Value))
                Mismatches.Add($"{label} via {path}: ran [{Describe(ran)}], expected [{Describe(want)}]");
            _ran.Clear();
        }

        public ValueTask DisposeAsync() => Bus.DisposeAsync();

        private static string Describe(Dictionary<(int Slot, string Event), int> runs) =>
            string.Join(", ", runs.OrderBy(r => r.Key.Slot).Select(r => $"{r.Key.Slot}:{r.Key.Event}×{r.Value}"));

        private ValueTask Send<T>(T @event, SendPath path)
            where T : notnull =>
            path switch
            {
                SendPath.Interface => Bus.SendAsync(@event),
                SendPath.Sender => Bus.GetSender<T>().SendAsync(@event),
                _ => ((InProcessEventBus)Bus).SendAsync(@event),
            };

        private void Ran(int slot, string bus, string @event)
        {
            Runs++;
            if (bus != name)
                Wrong.Add($"{name} slot {slot} ran {bus}'s event {@event}");
            var key = (slot, @event);
            _ran[key] = _ran.GetValueOrDefault(key) + 1;
        }

        private void CheckCurrent(int slot, string label, EventContext context, string where)
        {
            if (!ReferenceEquals(EventContext.Current, context))
                Wrong.Add($"{slot}: {label} saw {EventContext.Current?.Event.ToString() ?? "no event"} {where}");
        }

        private void CheckLeaf(int slot, Leaf leaf, EventContext context)
        {
            Ran(slot, leaf.Bus, $"l{leaf.N}");
            if (!ReferenceEquals(EventContext.Current, context))
                Wrong.Add($"{slot}: l{leaf.N} saw {EventContext.Current?.Event}");
            if (leaf.ParentId == Guid.Empty)
            {
                if (context.CausationId is not null)
                    Wrong.Add($"{slot}: top-level l{leaf.N} caused by {context.CausationId}");
                return;
            }

            NestedChecked++;
            if (context.CausationId != leaf.ParentId || context.CorrelationId != leaf.ParentCorrelation)
                Wrong.Add($"{slot}: l{leaf.N} caused by {context.CausationId} in {context.CorrelationId}, not {leaf.ParentId} in {leaf.ParentCorrelation}");
        }
    }

    /// <summary>
    /// An <see cref="IEventBus"/> that is not Busbar's own, passing everything to a real bus: with its own senders (which then send
    /// through its <see cref="InvokeAsync{T}"/>), or handing out the inner bus's senders as a pass-through decorator might.
    /// </summary>
    private sealed class ForeignBus(IEventBus inner, bool ownSenders) : IEventBus
    {
        private readonly Dictionary<Type, object> _senders = [];

        public int Invokes { get; private set; }

        public int SenderRequests { get; private set; }

        public string Name => "foreign-" + inner.Name;

        public EventBusOptions Options => inner.Options;

        public IDeadLetterStore DeadLetters => inner.DeadLetters;

        public EventSender<T> GetSender<T>()
            where T : notnull
        {
            SenderRequests++;
            if (!ownSenders)
                return inner.GetSender<T>();
            if (!_senders.TryGetValue(typeof(T), out var sender))
                _senders[typeof(T)] = sender = new EventSender<T>(this);
            return (EventSender<T>)sender;
        }

        public ValueTask<EventOutcome> InvokeAsync<T>(T @event, PublishOptions? options = null, CancellationToken cancellationToken = default)
            where T : notnull
        {
            Invokes++;
            return inner.InvokeAsync(@event, options, cancellationToken);
        }

        public ValueTask<EventHandle> PublishAsync<T>(T @event, PublishOptions? options = null, CancellationToken cancellationToken = default)
            where T : notnull => inner.PublishAsync(@event, options, cancellationToken);

        public bool TryPublish<T>(T @event, out EventHandle handle, PublishOptions? options = null)
            where T : notnull => inner.TryPublish(@event, out handle, options);

        public ValueTask<IReadOnlyList<EventHandle>> PublishBatchAsync<T>(IEnumerable<T> events, PublishOptions? options = null, CancellationToken cancellationToken = default)
            where T : notnull => inner.PublishBatchAsync(events, options, cancellationToken);

        public ISubscription Subscribe<T>(Func<T, EventContext, CancellationToken, ValueTask> handler, SubscriptionOptions? options = null) =>
            inner.Subscribe(handler, options);

        public ISubscription Subscribe<T, TResult>(Func<T, EventContext, CancellationToken, ValueTask<TResult>> handler, SubscriptionOptions? options = null) =>
            inner.Subscribe(handler, options);

        public ISubscription Subscribe(string pattern, Func<object, EventContext, CancellationToken, ValueTask> handler, SubscriptionOptions? options = null) =>
            inner.Subscribe(pattern, handler, options);

        public ValueTask<EventMatch<T>?> WaitForAsync<T>(Func<T, EventContext, bool>? predicate, TimeSpan timeout, WaitOptions? options = null, CancellationToken cancellationToken = default) =>
            inner.WaitForAsync(predicate, timeout, options, cancellationToken);

        public ValueTask<EventMatch<object>?> WaitForAsync(string pattern, Func<object, EventContext, bool>? predicate, TimeSpan timeout, WaitOptions? options = null, CancellationToken cancellationToken = default) =>
            inner.WaitForAsync(pattern, predicate, timeout, options, cancellationToken);

        public IReadOnlyList<EventHandle> History<T>(Func<T, EventContext, bool>? predicate = null) => inner.History(predicate);

        public IReadOnlyList<EventHandle> History(string pattern, Func<object, EventContext, bool>? predicate = null) => inner.History(pattern, predicate);

        public ISubscription ForwardTo(IEventBus target, string pattern = "*", ForwardOptions? options = null) => inner.ForwardTo(target, pattern, options);

        public WriteAheadLogStatus? GetWriteAheadLogStatus() => inner.GetWriteAheadLogStatus();

        public BusStatistics GetStatistics() => inner.GetStatistics();

        public ValueTask<StopReport> StopAsync(TimeSpan? drainTimeout = null, CancellationToken cancellationToken = default) => inner.StopAsync(drainTimeout, cancellationToken);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

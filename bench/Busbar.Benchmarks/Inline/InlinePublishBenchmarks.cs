using System.Reactive.Subjects;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Busbar.Benchmarks.Events;
using Busbar.Benchmarks.Infrastructure;
using Busbar.Benchmarks.Peers;
using Microsoft.Extensions.DependencyInjection;
using MassTransitMediator = MassTransit.Mediator.IMediator;

namespace Busbar.Benchmarks.Inline;

/// <summary>
/// Publish on the caller's thread to 1 and to 8 handlers that each increment a field.
/// Baselines: Mediator (concrete generated class, singleton) for 1 handler, a C# multicast delegate
/// for 8 handlers: the two goals of issue 6. The <c>EventSender&lt;T&gt;</c> rows send through a sender taken once
/// (<c>bus.GetSender&lt;Ping&gt;()</c>), as a hot path should (issue 16).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class InlinePublishBenchmarks
{
    private const string One = "1 handler";
    private const string Eight = "8 handlers";

    private readonly Ping _ping = new(1);
    private readonly MediatorPing1 _mediatorPing1 = new(1);
    private readonly MediatorPing8 _mediatorPing8 = new(1);

    private DirectHandler _h0 = null!, _h1 = null!, _h2 = null!, _h3 = null!, _h4 = null!, _h5 = null!, _h6 = null!, _h7 = null!;
    private Action<Ping> _delegate1 = null!;
    private Action<Ping> _delegate8 = null!;
    private Subject<Ping> _subject1 = null!;
    private Subject<Ping> _subject8 = null!;
    private ServiceProvider _mediatorProvider = null!;
    private global::Mediator.Mediator _mediator = null!;
    private ServiceProvider _massTransit1Provider = null!;
    private ServiceProvider _massTransit8Provider = null!;
    private MassTransitMediator _massTransit1 = null!;
    private MassTransitMediator _massTransit8 = null!;
    private IEventBus _busbar1 = null!;
    private IEventBus _busbar8 = null!;
    private IEventBus _busbarAction = null!;
    private IEventBus _busbarAction8 = null!;
    private EventSender<Ping> _sender1 = null!;
    private EventSender<Ping> _sender8 = null!;
    private EventSender<Ping> _senderAction = null!;
    private EventSender<Ping> _senderAction8 = null!;
    private IEventBus _busbarStruct = null!;
    private EventSender<PingValue> _senderStruct = null!;

    [GlobalSetup]
    public void Setup()
    {
        DirectHandler[] handlers = [new(), new(), new(), new(), new(), new(), new(), new()];
        (_h0, _h1, _h2, _h3, _h4, _h5, _h6, _h7) = (handlers[0], handlers[1], handlers[2], handlers[3], handlers[4], handlers[5], handlers[6], handlers[7]);

        _delegate1 = _h0.Handle;
        _delegate8 = _h0.Handle;
        _subject1 = new Subject<Ping>();
        _subject8 = new Subject<Ping>();
        _subject1.Subscribe(_h0.Handle);
        foreach (var handler in handlers)
        {
            _subject8.Subscribe(handler.Handle);
        }

        foreach (var handler in handlers[1..])
        {
            _delegate8 += handler.Handle;
        }

        (_mediatorProvider, _mediator) = MediatorPeer.Create();
        (_massTransit1Provider, _massTransit1) = MassTransitPeer.CreateMediator(1);
        (_massTransit8Provider, _massTransit8) = MassTransitPeer.CreateMediator(8);

        _busbar1 = CreateBusbar(1);
        _busbar8 = CreateBusbar(8);
        _busbarAction = EventBus.Create(new EventBusOptions { Name = "bench-inline-action" });
        _busbarAction.Subscribe<Ping>(static _ => InlineSink.Count++);
        _busbarAction8 = EventBus.Create(new EventBusOptions { Name = "bench-inline-action-8" });
        for (var i = 0; i < 8; i++)
        {
            _busbarAction8.Subscribe<Ping>(static _ => InlineSink.Count++);
        }

        _sender1 = _busbar1.GetSender<Ping>();
        _sender8 = _busbar8.GetSender<Ping>();
        _senderAction = _busbarAction.GetSender<Ping>();
        _senderAction8 = _busbarAction8.GetSender<Ping>();
        _busbarStruct = EventBus.Create(new EventBusOptions { Name = "bench-inline-struct" });
        _busbarStruct.Subscribe<PingValue>(static _ => InlineSink.Count++);
        _senderStruct = _busbarStruct.GetSender<PingValue>();
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        _subject1.Dispose();
        _subject8.Dispose();
        await _mediatorProvider.DisposeAsync();
        await _massTransit1Provider.DisposeAsync();
        await _massTransit8Provider.DisposeAsync();
        await _busbar1.DisposeAsync();
        await _busbar8.DisposeAsync();
        await _busbarAction.DisposeAsync();
        await _busbarAction8.DisposeAsync();
        await _busbarStruct.DisposeAsync();
    }

    [Benchmark(Description = "Direct call"), BenchmarkCategory(One)]
    public void Direct_1() => _h0.Handle(_ping);

    [Benchmark(Description = "Multicast delegate"), BenchmarkCategory(One)]
    public void Delegate_1() => _delegate1(_ping);

    [Benchmark(Description = "Rx Subject.OnNext"), BenchmarkCategory(One)]
    public void Rx_1() => _subject1.OnNext(_ping);

    [Benchmark(Baseline = true, Description = "Mediator 3.0.2 Publish"), BenchmarkCategory(One)]
    public void Mediator_1() => Sync.Complete(_mediator.Publish(_mediatorPing1));

    [Benchmark(Description = "MassTransit 8.5 IMediator.Publish"), BenchmarkCategory(One)]
    public void MassTransit_1() => Sync.Complete(_massTransit1.Publish(_ping));

    [Benchmark(Description = "Busbar SendAsync"), BenchmarkCategory(One)]
    public void Busbar_1() => Sync.Complete(_busbar1.SendAsync(_ping));

    [Benchmark(Description = "Busbar SendAsync, Action<T> handler"), BenchmarkCategory(One)]
    public void BusbarAction_1() => Sync.Complete(_busbarAction.SendAsync(_ping));

    [Benchmark(Description = "Busbar EventSender<T>.SendAsync"), BenchmarkCategory(One)]
    public void BusbarSender_1() => Sync.Complete(_sender1.SendAsync(_ping));

    [Benchmark(Description = "Busbar EventSender<T>.SendAsync, Action<T> handler"), BenchmarkCategory(One)]
    public void BusbarSenderAction_1() => Sync.Complete(_senderAction.SendAsync(_ping));

    [Benchmark(Description = "Busbar EventSender<T>.SendAsync, struct event, Action<T> handler"), BenchmarkCategory(One)]
    public void BusbarSenderStruct_1() => Sync.Complete(_senderStruct.SendAsync(new PingValue(1)));

    [Benchmark(Description = "Direct call"), BenchmarkCategory(Eight)]
    public void Direct_8()
    {
        _h0.Handle(_ping);
        _h1.Handle(_ping);
        _h2.Handle(_ping);
        _h3.Handle(_ping);
        _h4.Handle(_ping);
        _h5.Handle(_ping);
        _h6.Handle(_ping);
        _h7.Handle(_ping);
    }

    [Benchmark(Baseline = true, Description = "Multicast delegate"), BenchmarkCategory(Eight)]
    public void Delegate_8() => _delegate8(_ping);

    [Benchmark(Description = "Rx Subject.OnNext"), BenchmarkCategory(Eight)]
    public void Rx_8() => _subject8.OnNext(_ping);

    [Benchmark(Description = "Mediator 3.0.2 Publish"), BenchmarkCategory(Eight)]
    public void Mediator_8() => Sync.Complete(_mediator.Publish(_mediatorPing8));

    [Benchmark(Description = "MassTransit 8.5 IMediator.Publish"), BenchmarkCategory(Eight)]
    public void MassTransit_8() => Sync.Complete(_massTransit8.Publish(_ping));

    [Benchmark(Description = "Busbar SendAsync"), BenchmarkCategory(Eight)]
    public void Busbar_8() => Sync.Complete(_busbar8.SendAsync(_ping));

    [Benchmark(Description = "Busbar SendAsync, Action<T> handlers"), BenchmarkCategory(Eight)]
    public void BusbarAction_8() => Sync.Complete(_busbarAction8.SendAsync(_ping));

    [Benchmark(Description = "Busbar EventSender<T>.SendAsync"), BenchmarkCategory(Eight)]
    public void BusbarSender_8() => Sync.Complete(_sender8.SendAsync(_ping));

    [Benchmark(Description = "Busbar EventSender<T>.SendAsync, Action<T> handlers"), BenchmarkCategory(Eight)]
    public void BusbarSenderAction_8() => Sync.Complete(_senderAction8.SendAsync(_ping));

    private static IEventBus CreateBusbar(int handlers)
    {
        var bus = EventBus.Create(new EventBusOptions { Name = $"bench-inline-{handlers}" });
        for (var i = 0; i < handlers; i++)
        {
            bus.Subscribe<Ping>(static (_, _, _) =>
            {
                InlineSink.Count++;
                return ValueTask.CompletedTask;
            });
        }

        return bus;
    }
}

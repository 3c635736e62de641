using Microsoft.Extensions.Hosting;

namespace Busbar.Hosting;

/// <summary>
/// Builds and starts every registered bus when the host starts (so invalid options fail the start),
/// and stops them when it stops: each drains until the host's shutdown token fires, which the host
/// does after <c>HostOptions.ShutdownTimeout</c>; then running handlers are cancelled through their
/// tokens and what is left completes as cancelled.
/// </summary>
internal sealed class BusbarHostedService(IServiceProvider services, BusRegistry registry) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var registration in registry.Buses)
        {
            // A bus with a transport starts once it is connected and consumes its subscriptions: a broker that cannot be
            // reached fails the host's start instead of every later publish.
            if (registration.Resolve(services) is Dispatch.InProcessEventBus { Link: { } link })
                await link.WaitUntilSubscribedAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var stops = new Task[registry.Buses.Count];
        for (var i = 0; i < stops.Length; i++)
            stops[i] = registry.Buses[i].Resolve(services).StopAsync(Timeout.InfiniteTimeSpan, cancellationToken).AsTask();
        await Task.WhenAll(stops).ConfigureAwait(false);
    }
}

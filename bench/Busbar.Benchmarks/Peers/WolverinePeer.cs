using Busbar.Benchmarks.Events;
using JasperFx.CodeGeneration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Wolverine;

namespace Busbar.Benchmarks.Peers;

/// <summary>
/// Wolverine 6 with <see cref="Ping"/> routed to one sequential local queue (its in-process,
/// non-durable mode). Conventional handler discovery is off so it does not pick up the other peers'
/// handler classes.
/// </summary>
public static class WolverinePeer
{
    public static async Task<(IHost Host, IMessageBus Bus)> StartAsync(Action onHandled)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(new WolverinePingHandler.Callback(onHandled));
        builder.UseWolverine(opts =>
        {
            opts.Discovery.DisableConventionalDiscovery().IncludeType<WolverinePingHandler>();
            opts.LocalQueue("ping").Sequential();
            opts.PublishMessage<Ping>().ToLocalQueue("ping");
            opts.CodeGeneration.TypeLoadMode = TypeLoadMode.Dynamic;
        });
        var host = builder.Build();
        await host.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
        return (host, host.Services.GetRequiredService<IMessageBus>());
    }
}

public sealed class WolverinePingHandler(WolverinePingHandler.Callback callback)
{
    public void Handle(Ping ping) => callback.OnHandled();

    public sealed record Callback(Action OnHandled);
}

using Microsoft.Extensions.Logging;

namespace Busbar;

/// <summary>What a bus gives the function that connects its transport (<see cref="EventBusBuilder.UseTransport(Func{TransportConnectArguments, CancellationToken, ValueTask{Transport.IEventTransport}}, Transport.EventTypeRegistry, TransportBusOptions?)"/>).</summary>
public readonly struct TransportConnectArguments
{
    internal TransportConnectArguments(EventBusOptions busOptions, TimeProvider timeProvider, ILoggerFactory? loggerFactory)
    {
        BusOptions = busOptions;
        TimeProvider = timeProvider;
        LoggerFactory = loggerFactory;
    }

    /// <summary>The bus's options (for example its <see cref="EventBusOptions.FullMode"/>, to choose the transport's publish full mode).</summary>
    public EventBusOptions BusOptions { get; }

    /// <summary>The bus's clock.</summary>
    public TimeProvider TimeProvider { get; }

    /// <summary>The bus's logger factory, when one was given.</summary>
    public ILoggerFactory? LoggerFactory { get; }
}

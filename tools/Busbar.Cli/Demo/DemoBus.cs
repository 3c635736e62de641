using System.Text.Json;
using Busbar.Durability;

namespace Busbar.Cli.Demo;

/// <summary>Builds the demo's durable bus, for the run and for the pace measurement alike.</summary>
internal static class DemoBus
{
    public static IEventBus Build(int capacity, BusFullMode fullMode, int concurrency, TimeSpan drainTimeout, string walDirectory, WalFlushMode flushMode)
    {
        var builder = new EventBusBuilder()
            .WithOptions(new EventBusOptions
            {
                Name = "demo",
                Capacity = capacity,
                FullMode = fullMode,
                MaxConcurrentEvents = concurrency,
                HandlerConcurrency = HandlerConcurrency.Parallel,
                SlowHandlerThreshold = OrderPipeline.SlowThreshold,
                DrainTimeout = drainTimeout,
            })
            .RegisterEvent<OrderPlaced>()
            .RegisterEvent<InvoiceIssued>()
            .UseWriteAheadLog(walDirectory, new JsonSerializerOptions { TypeInfoResolver = DemoJsonContext.Default }, new WriteAheadLogOptions { FlushMode = flushMode });
        try
        {
            return builder.Build();
        }
        catch (WalLockedException ex)
        {
            throw new UserErrorException($"the write-ahead log directory '{walDirectory}' is in use by another process (its lock file is held).", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"cannot open the write-ahead log in '{walDirectory}': {ex.Message}", ex);
        }
    }

    /// <summary>A fresh temporary log directory, named so it is recognisable in /tmp.</summary>
    public static string TemporaryDirectory(string purpose) =>
        Path.Combine(Path.GetTempPath(), "busbar-" + purpose + "-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>Removes a temporary log directory; returns the reason when it could not.</summary>
    public static string? TryRemove(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
                Directory.Delete(directory, recursive: true);
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return ex.Message;
        }
    }
}

namespace Busbar.Diagnostics;

/// <summary>What a health check reads from a bus: its statistics and whether it has begun to stop.</summary>
internal interface IBusStatus
{
    /// <summary>The bus's current statistics.</summary>
    BusStatistics GetStatistics();

    /// <summary>True once the bus has begun to stop: it accepts no more events.</summary>
    bool IsStopping { get; }
}

using Busbar.Diagnostics;

namespace Busbar.Dispatch;

/// <summary>What diagnostics (logs inside event scopes, health checks) read from the bus.</summary>
internal sealed partial class InProcessEventBus
{
    private BusLogger? _eventLog;

    /// <summary>Logs about events, each inside an event scope; see <see cref="BusLogger"/>.</summary>
    internal BusLogger EventLog => Volatile.Read(ref _eventLog) ?? CreateEventLog();

    /// <summary>True once <c>StopAsync</c> has begun: the bus accepts no more events.</summary>
    internal bool IsStopping => _stopping;

    private BusLogger CreateEventLog()
    {
        var created = new BusLogger(Logger, TimeProvider);
        return Interlocked.CompareExchange(ref _eventLog, created, null) ?? created;
    }
}

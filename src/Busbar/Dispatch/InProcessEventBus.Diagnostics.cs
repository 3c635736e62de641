using Busbar.Diagnostics;

namespace Busbar.Dispatch;

/// <summary>What diagnostics (logs inside event scopes, health checks) read from the bus.</summary>
internal sealed partial class InProcessEventBus : IBusStatus
{
    /// <summary>Logs about events, each inside an event scope; see <see cref="EventLogger"/>.</summary>
    internal EventLogger EventLogger { get; }

    /// <summary>True once <c>StopAsync</c> has begun: the bus accepts no more events.</summary>
    public bool IsStopping => _inFlight.IsStopping;
}

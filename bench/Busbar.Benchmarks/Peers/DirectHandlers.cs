using Busbar.Benchmarks.Events;

namespace Busbar.Benchmarks.Peers;

/// <summary>The handler that the direct-call and delegate rows invoke.</summary>
public sealed class DirectHandler
{
    public void Handle(Ping ping) => InlineSink.Count++;
}

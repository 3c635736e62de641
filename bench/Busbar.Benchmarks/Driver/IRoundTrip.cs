namespace Busbar.Benchmarks.Driver;

/// <summary>One publish that returns when the event has been handled.</summary>
public interface IRoundTrip : IAsyncDisposable
{
    string Name { get; }

    ValueTask RoundTripAsync(int value, CancellationToken cancellationToken);
}

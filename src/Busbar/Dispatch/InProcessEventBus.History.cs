using Busbar.Routing;

namespace Busbar.Dispatch;

/// <summary>Waiting for events and looking them up in the history.</summary>
internal sealed partial class InProcessEventBus
{
    public ValueTask<EventHandle?> WaitForAsync<T>(Func<T, EventContext, bool>? predicate, TimeSpan timeout, WaitOptions? options = null, CancellationToken cancellationToken = default)
    {
        return _history.WaitForAsync(
            c => c.Payload is T typed && (predicate is null || predicate(typed, c)),
            timeout,
            options,
            TimeProvider,
            cancellationToken);
    }

    public ValueTask<EventHandle?> WaitForAsync(string pattern, Func<object, EventContext, bool>? predicate, TimeSpan timeout, WaitOptions? options = null, CancellationToken cancellationToken = default)
    {
        var compiled = TopicPattern.Parse(pattern);
        return _history.WaitForAsync(
            c => compiled.Matches(c.Name) && (predicate is null || predicate(c.Payload, c)),
            timeout,
            options,
            TimeProvider,
            cancellationToken);
    }

    public IReadOnlyList<EventHandle> History<T>(Func<T, EventContext, bool>? predicate = null) =>
        _history.Find(c => c.Payload is T typed && (predicate is null || predicate(typed, c)));

    public IReadOnlyList<EventHandle> History(string pattern, Func<object, EventContext, bool>? predicate = null)
    {
        var compiled = TopicPattern.Parse(pattern);
        return _history.Find(c => compiled.Matches(c.Name) && (predicate is null || predicate(c.Payload, c)));
    }
}

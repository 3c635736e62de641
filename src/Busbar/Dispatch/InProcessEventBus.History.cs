using Busbar.Routing;

namespace Busbar.Dispatch;

/// <summary>Waiting for events and looking them up in the history.</summary>
internal sealed partial class InProcessEventBus
{
    public async ValueTask<EventMatch<T>?> WaitForAsync<T>(Func<T, EventContext, bool>? predicate, TimeSpan timeout, WaitOptions? options = null, CancellationToken cancellationToken = default)
    {
        var found = await _history.WaitForAsync(
            c => c.Payload is T typed && (predicate is null || predicate(typed, c)),
            timeout,
            options,
            TimeProvider,
            cancellationToken).ConfigureAwait(false);
        return found is { } handle ? new EventMatch<T>((T)handle.Context.Payload, handle) : null;
    }

    public ValueTask<EventMatch<object>?> WaitForAsync(string pattern, Func<object, EventContext, bool>? predicate, TimeSpan timeout, WaitOptions? options = null, CancellationToken cancellationToken = default) =>
        WaitForPatternAsync(TopicPattern.Parse(pattern), predicate, timeout, options, cancellationToken);

    private async ValueTask<EventMatch<object>?> WaitForPatternAsync(TopicPattern compiled, Func<object, EventContext, bool>? predicate, TimeSpan timeout, WaitOptions? options, CancellationToken cancellationToken)
    {
        var found = await _history.WaitForAsync(
            c => compiled.Matches(c.Name) && (predicate is null || predicate(c.Payload, c)),
            timeout,
            options,
            TimeProvider,
            cancellationToken).ConfigureAwait(false);
        return found is { } handle ? new EventMatch<object>(handle.Context.Payload, handle) : null;
    }

    public IReadOnlyList<EventHandle> History<T>(Func<T, EventContext, bool>? predicate = null) =>
        _history.Find(c => c.Payload is T typed && (predicate is null || predicate(typed, c)));

    public IReadOnlyList<EventHandle> History(string pattern, Func<object, EventContext, bool>? predicate = null)
    {
        var compiled = TopicPattern.Parse(pattern);
        return _history.Find(c => compiled.Matches(c.Name) && (predicate is null || predicate(c.Payload, c)));
    }
}

using System.Diagnostics;

namespace Busbar;

/// <summary>Tracing state of an event, kept beside its dispatch state.</summary>
public sealed partial class EventContext
{
    /// <summary>The publish span, from <c>CreateContext</c> until the event is admitted or refused; null when nobody traces.</summary>
    internal Activity? PublishActivity
    {
        get => ExtrasOrNull?.PublishActivity;
        set
        {
            if (value is not null || ExtrasOrNull is not null)
                GetExtras().PublishActivity = value;
        }
    }

    /// <summary>Records when the publish began (the bus's <see cref="TimeProvider"/> timestamp), for <c>messaging.client.operation.duration</c>.</summary>
    internal void SetPublishStart(long timestamp) => GetExtras().PublishStartTimestamp = timestamp;

    /// <summary>Takes the publish start once: 0 when nobody measures it or it was taken already.</summary>
    /// <remarks>Taken with <see cref="Interlocked.Exchange(ref long, long)"/>: an eviction can race the admission that ends the publish.</remarks>
    internal long TakePublishStart()
    {
        if (ExtrasOrNull is not { } extras || Volatile.Read(ref extras.PublishStartTimestamp) == 0)
            return 0;
        return Interlocked.Exchange(ref extras.PublishStartTimestamp, 0);
    }
}

namespace Busbar.Transport;

/// <summary>The outcome of <see cref="EnvelopeCodec.Decode"/>: the event, or why there is none.</summary>
public readonly struct EnvelopeDecodeResult
{
    private EnvelopeDecodeResult(DecodedEvent? decoded, EnvelopeDecodeFailure failure, string? reason)
    {
        Event = decoded;
        Failure = failure;
        Reason = reason;
    }

    /// <summary>The event, when decoded.</summary>
    public DecodedEvent? Event { get; }

    /// <summary>What went wrong; <see cref="EnvelopeDecodeFailure.None"/> when decoded.</summary>
    public EnvelopeDecodeFailure Failure { get; }

    /// <summary>A reason fit for a dead letter and a log: names the field or the name, never the payload.</summary>
    public string? Reason { get; }

    /// <summary>Whether <see cref="Event"/> is set.</summary>
    public bool Succeeded => Failure == EnvelopeDecodeFailure.None;

    internal static EnvelopeDecodeResult Success(DecodedEvent decoded) => new(decoded, EnvelopeDecodeFailure.None, null);

    internal static EnvelopeDecodeResult Fail(EnvelopeDecodeFailure failure, string reason) => new(null, failure, $"{failure}: {reason}");
}

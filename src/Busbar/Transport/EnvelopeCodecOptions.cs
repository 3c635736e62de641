namespace Busbar.Transport;

/// <summary>Limits of the envelope codec.</summary>
public sealed record EnvelopeCodecOptions
{
    /// <summary>The largest envelope encoded or decoded, in bytes; a larger one fails to encode and decodes as <see cref="EnvelopeDecodeFailure.Oversized"/>.</summary>
    /// <value>Default 1 MiB. From 256 bytes to 512 MiB.</value>
    public int MaxEnvelopeBytes { get; init; } = 1024 * 1024;

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid option.</summary>
    internal void Validate()
    {
        if (MaxEnvelopeBytes is < 256 or > 512 * 1024 * 1024)
            throw new ArgumentException($"{nameof(EnvelopeCodecOptions)}.{nameof(MaxEnvelopeBytes)} must be from 256 bytes to 512 MiB (was {MaxEnvelopeBytes}).", nameof(MaxEnvelopeBytes));
    }
}

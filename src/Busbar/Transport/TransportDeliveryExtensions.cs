namespace Busbar.Transport;

/// <summary>Helpers for consumers of <see cref="ITransportDelivery"/>.</summary>
public static class TransportDeliveryExtensions
{
    /// <summary>
    /// Decodes a delivery; when it cannot be decoded, terminates it to the dead letters with the reason and
    /// returns <see langword="null"/>, so one bad message never stops the ones behind it.
    /// </summary>
    /// <param name="delivery">The delivery.</param>
    /// <param name="codec">The codec with the process's registry.</param>
    /// <param name="cancellationToken">Cancels the terminate call.</param>
    /// <returns>The event, or <see langword="null"/> when it was dead-lettered.</returns>
    public static async ValueTask<DecodedEvent?> DecodeOrTerminateAsync(this ITransportDelivery delivery, EnvelopeCodec codec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        ArgumentNullException.ThrowIfNull(codec);
        var result = codec.Decode(delivery.Name, delivery.Envelope);
        if (result.Succeeded)
            return result.Event;
        await delivery.TerminateAsync(result.Reason!, cancellationToken).ConfigureAwait(false);
        return null;
    }
}

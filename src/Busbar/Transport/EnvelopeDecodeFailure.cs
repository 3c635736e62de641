namespace Busbar.Transport;

/// <summary>Why an envelope could not be decoded. A consumer terminates such a delivery to the dead letters with the reason.</summary>
public enum EnvelopeDecodeFailure
{
    /// <summary>Decoded.</summary>
    None,

    /// <summary>The broker's message had no envelope (for example an entry written by hand without the field).</summary>
    MissingEnvelope,

    /// <summary>The envelope is larger than <see cref="EnvelopeCodecOptions.MaxEnvelopeBytes"/>.</summary>
    Oversized,

    /// <summary>The envelope is not the envelope's JSON shape.</summary>
    MalformedEnvelope,

    /// <summary>A required envelope field (id, name, creation time, body) is missing or invalid.</summary>
    MissingField,

    /// <summary>The name is not in the registry, so there is no type to decode the body into.</summary>
    UnknownName,

    /// <summary>The name in the envelope differs from the name the broker routed the message by.</summary>
    NameMismatch,

    /// <summary>The body does not deserialize into the registered type.</summary>
    UndecodableBody,
}

namespace Busbar.Transport;

/// <summary>An event read back from a transport: its envelope and its payload, typed through the registry.</summary>
/// <param name="Envelope">The metadata.</param>
/// <param name="Payload">The deserialized event.</param>
/// <param name="PayloadType">The registered type the body was read as.</param>
public sealed record DecodedEvent(EventEnvelope Envelope, object Payload, Type PayloadType);

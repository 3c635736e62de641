namespace Busbar.Transport;

/// <summary>An encoded event as a transport moves it: its id, its name (the routing key) and the envelope bytes.</summary>
/// <param name="EventId">The event's id; brokers that deduplicate use it as the message id.</param>
/// <param name="Name">The event name; the broker routes by it (Redis: the stream; NATS: the subject).</param>
/// <param name="Envelope">The envelope written by <see cref="EnvelopeCodec.Encode"/>.</param>
public readonly record struct TransportMessage(Guid EventId, string Name, ReadOnlyMemory<byte> Envelope);

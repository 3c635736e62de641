using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.JetStream;

namespace Busbar.Nats;

/// <summary>What a subscription and its deliveries use of the transport: the connection, the layout, the options, telemetry and the alarms.</summary>
internal sealed class NatsContext(
    NatsConnection connection,
    INatsJSContext js,
    NatsTransportOptions options,
    NatsServerFeatures features,
    NatsTopology topology,
    ILogger logger,
    TimeProvider time)
{
    public static readonly NatsRawSerializer<ReadOnlyMemory<byte>> Raw = NatsRawSerializer<ReadOnlyMemory<byte>>.Default;

    private long _consumersRecreated;
    private string? _lastAlarm;

    public NatsConnection Connection { get; } = connection;

    public INatsJSContext JetStream { get; } = js;

    public NatsTransportOptions Options { get; } = options;

    public NatsServerFeatures Features { get; } = features;

    public NatsTopology Topology { get; } = topology;

    public ILogger Logger { get; } = logger;

    public TimeProvider Time { get; } = time;

    public NatsMetrics Metrics { get; set; } = null!;

    public long ConsumersRecreated => Interlocked.Read(ref _consumersRecreated);

    public string? LastAlarm => Volatile.Read(ref _lastAlarm);

    public void ConsumerRecreated(string consumer, string group)
    {
        Interlocked.Increment(ref _consumersRecreated);
        Volatile.Write(ref _lastAlarm, $"Consumer '{consumer}' of group '{group}' was missing and was created again at {Time.GetUtcNow():O}: the group receives the stream's retained events again.");
        NatsLog.ConsumerRecreated(Logger, consumer, group);
    }
}

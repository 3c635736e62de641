using System.Text.Json.Serialization;

namespace Busbar.CrashHost;

/// <summary>The event the crash host publishes: a sequence number unique per test trial.</summary>
[EventName("crash.tick")]
public sealed record Tick(long Seq);

[JsonSerializable(typeof(Tick))]
internal sealed partial class CrashJsonContext : JsonSerializerContext;

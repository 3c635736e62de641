using System.Text.Json.Serialization;

namespace Busbar.Cli.Demo;

/// <summary>Source-generated serialization of the demo's events for the write-ahead log (no reflection, trim and AOT safe).</summary>
[JsonSerializable(typeof(OrderPlaced))]
[JsonSerializable(typeof(InvoiceIssued))]
internal sealed partial class DemoJsonContext : JsonSerializerContext;

using System.Text.Json.Serialization;

namespace Busbar.Transport.Contract;

[EventName("contract.orders.placed")]
public sealed record OrderPlaced(int Number, string Customer);

[EventName("contract.orders.shipped")]
public sealed record OrderShipped(int Number);

[EventName("contract.payments.card.captured")]
public sealed record CardCaptured(int Number);

[EventName("contract.stock.reserved")]
public sealed record StockReserved(int Number);

/// <summary>Source-generated contracts: the suite proves the envelope works without reflection.</summary>
[JsonSerializable(typeof(OrderPlaced))]
[JsonSerializable(typeof(OrderShipped))]
[JsonSerializable(typeof(CardCaptured))]
[JsonSerializable(typeof(StockReserved))]
public sealed partial class ContractJsonContext : JsonSerializerContext;

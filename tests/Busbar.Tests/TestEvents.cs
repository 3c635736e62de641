namespace Busbar.Tests;

public interface IOrderEvent
{
    int OrderId { get; }
}

[EventName("orders.placed")]
public sealed record OrderPlaced(int OrderId) : IOrderEvent;

[EventName("orders.shipped")]
public sealed record OrderShipped(int OrderId) : IOrderEvent;

[EventName("orders.eu.placed")]
public sealed record EuOrderPlaced(int OrderId) : IOrderEvent;

[EventName("payments.captured")]
public sealed record PaymentCaptured(int OrderId, decimal Amount);

[EventName("test.ping")]
public sealed record Ping(int Value);

public abstract record Animal(string Name);

[EventName("zoo.cat")]
public sealed record Cat(string Name) : Animal(Name);

[EventName("zoo.dog")]
public sealed record Dog(string Name) : Animal(Name);

public sealed record Unnamed(int X);

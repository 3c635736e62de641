using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using Busbar.Routing;

namespace Busbar.Dispatch;

/// <summary>
/// The names of a bus's subscriptions: refuses a second active subscription with the same explicit name, and derives
/// default names that are the same on every run of the same code (durable dead letters are re-driven by name after a restart).
/// </summary>
/// <remarks>
/// One rule for every path that subscribes without a name (<c>Subscribe</c> on the bus and <c>AddHandler</c> /
/// <c>AddHandlersFromAssembly</c> in hosting): a delegate is named after its declaring type and method
/// (<c>MyApp.OrderHandlers.OnPlaced</c>; for a lambda, the method that contains it); a handler class after its full name
/// (<c>MyApp.Billing.AuditHandler</c>), followed by the event type's name when the class handles several event types
/// (<c>MyApp.Billing.AuditHandler&lt;OrderPlaced&gt;</c>), see <see cref="ForHandlerClass"/>. Two
/// subscriptions of one bus with the same default name (two lambdas in one method) get <c>#2</c>, <c>#3</c>, … (the smallest
/// suffix no active subscription has), so the same code subscribing in the same order gets the same names.
/// </remarks>
internal sealed class SubscriptionNames
{
    private readonly object _lock = new();

    /// <summary>Every name in use: its subscription, or null while reserved for one being created.</summary>
    private readonly Dictionary<string, Subscription?> _taken = new(StringComparer.Ordinal);

    /// <summary>The suffix search state of each default name some subscription holds a suffix of.</summary>
    private readonly Dictionary<string, Family> _families = new(StringComparer.Ordinal);

    /// <summary>The family slot behind a name: every suffix a family handed out or skipped because another subscription held it.</summary>
    private readonly Dictionary<string, Slot> _slots = new(StringComparer.Ordinal);

    /// <summary>Names looked at by <see cref="ReserveDefault"/>, for tests: stays proportional to the subscribes, not to their square.</summary>
    internal long Probes { get; private set; }

    /// <summary>
    /// Reserves and returns the name a subscription without <see cref="SubscriptionOptions.Name"/> gets: the derived name,
    /// or with the smallest suffix <c>#2</c>, <c>#3</c>, … that no active subscription of this bus has.
    /// </summary>
    /// <remarks>
    /// O(log n) in the subscriptions sharing the default name: each family keeps the suffixes below its high-water mark
    /// that were given back, in a min-heap; a suffix some other subscription took by explicit name is skipped once and
    /// comes back to the heap when that subscription is disposed.
    /// </remarks>
    public string ReserveDefault(object? origin, Type? eventType, string fallback)
    {
        var baseName = (origin is null ? null : Derive(origin, eventType)) ?? fallback;
        lock (_lock)
        {
            if (!_families.TryGetValue(baseName, out var family))
            {
                family = new Family(baseName);
                _families.Add(baseName, family);
            }

            while (true)
            {
                var n = family.Free.TryDequeue(out var free, out _) ? free : family.Top++;
                var name = family.NameOf(n);
                Probes++;
                // Default names never contain '#' (type, method and pattern names cannot), so no other family has this name.
                if (!_slots.TryAdd(name, new Slot(family, n)))
                    continue;
                family.Held++;
                if (!IsTakenLocked(name))
                {
                    _taken[name] = null;
                    return name;
                }
            }
        }
    }

    /// <summary>
    /// Records <paramref name="entry"/> under its name; throws when another active subscription of this bus has the name.
    /// From here on, disposing <paramref name="entry"/> gives its name back (<see cref="Released"/>).
    /// </summary>
    public void Claim(Subscription entry, bool reserved, string busName)
    {
        lock (_lock)
        {
            if (!reserved && IsTakenLocked(entry.Name))
            {
                throw new ArgumentException(
                    $"Bus '{busName}' already has an active subscription named '{entry.Name}'. A subscription's name identifies it in outcomes, " +
                    "logs, metrics, dead letters and the write-ahead log, so names are unique on a bus: choose another SubscriptionOptions.Name, " +
                    "or dispose the first subscription.",
                    "options");
            }

            _taken[entry.Name] = entry;
        }

        entry.NameOwner = this;
    }

    /// <summary>Gives back a reserved name whose subscription was never created (its constructor threw).</summary>
    public void Release(string name)
    {
        lock (_lock)
        {
            if (_taken.TryGetValue(name, out var entry) && entry is null)
                ForgetLocked(name);
        }
    }

    /// <summary>Gives back the name of <paramref name="entry"/>, which was just disposed (or consumed by <see cref="SubscriptionOptions.Once"/>).</summary>
    public void Released(Subscription entry)
    {
        lock (_lock)
        {
            // The name may already belong to a newer subscription that found this one inactive while it was being disposed.
            if (_taken.TryGetValue(entry.Name, out var holder) && ReferenceEquals(holder, entry))
                ForgetLocked(entry.Name);
        }
    }

    private void ForgetLocked(string name)
    {
        _taken.Remove(name);
        if (!_slots.Remove(name, out var slot))
            return;
        var family = slot.Family;
        if (--family.Held == 0)
        {
            // Every suffix is free again: the next subscription of this default name starts from the bare name, and the
            // table does not keep a family per default name ever used.
            _families.Remove(family.BaseName);
            return;
        }

        family.Free.Enqueue(slot.Suffix, slot.Suffix);
    }

    private bool IsTakenLocked(string name) => _taken.TryGetValue(name, out var entry) && (entry is null || entry.IsActive);

    /// <summary>One default name's suffixes: all from <see cref="Top"/> on were never handed out; those below are held or in <see cref="Free"/>.</summary>
    private sealed class Family(string baseName)
    {
        public string BaseName { get; } = baseName;

        public int Top { get; set; } = 1;

        /// <summary>Suffixes below <see cref="Top"/> given back, smallest first.</summary>
        public PriorityQueue<int, int> Free { get; } = new();

        /// <summary>Suffixes below <see cref="Top"/> that are in <c>_slots</c> (handed out, or skipped as held by an explicit name).</summary>
        public int Held { get; set; }

        public string NameOf(int suffix) => suffix == 1 ? BaseName : $"{BaseName}#{suffix}";
    }

    private readonly record struct Slot(Family Family, int Suffix);

    /// <summary>The stable part of a default name, or null when the handler's method cannot be read (trimmed metadata).</summary>
    internal static string? Derive(object origin, Type? eventType)
    {
        try
        {
            if (origin is not Delegate handler)
                return eventType is null ? TypeName(origin.GetType()) : ForHandlerClass(origin.GetType(), eventType);
            var method = handler.Method;
            var type = method.DeclaringType;
            while (type is not null && IsCompilerGenerated(type) && type.DeclaringType is not null)
                type = type.DeclaringType;
            if (type is null)
                return null;
            return $"{TypeName(type)}.{MethodName(method)}";
        }
        catch (Exception ex) when (ex is NotSupportedException or InvalidOperationException or MemberAccessException)
        {
            // Native AOT may not keep the metadata of a lambda's method: the caller falls back to the event type or pattern.
            return null;
        }
    }

    /// <summary>
    /// The default name of handler class <paramref name="handlerType"/>'s subscription to <paramref name="eventType"/>: its
    /// full name (<c>MyApp.Billing.AuditHandler</c>, nested types joined by <c>.</c>, generic arguments left out), and when
    /// the class implements <see cref="IEventHandler{T}"/> for several event types, the event type's name in angle
    /// brackets (<c>MyApp.Billing.AuditHandler&lt;OrderPlaced&gt;</c>), so each of its subscriptions has its own name.
    /// </summary>
    /// <remarks>The bus (for an <see cref="IEventHandler{T}"/> instance) and hosting (for a class added by type) both call this.</remarks>
    [UnconditionalSuppressMessage("Trimming", "IL2070", Justification =
        "Only counts the IEventHandler<> interfaces; the one being subscribed is kept, as the subscription calls through it.")]
    internal static string ForHandlerClass(Type handlerType, Type eventType)
    {
        var handled = 0;
        foreach (var contract in handlerType.GetInterfaces())
        {
            if (contract.IsGenericType && contract.GetGenericTypeDefinition() == typeof(IEventHandler<>))
                handled++;
        }

        var name = TypeName(handlerType);
        return handled > 1 ? $"{name}<{eventType.Name}>" : name;
    }

    private static bool IsCompilerGenerated(Type type) => type.Name.StartsWith('<');

    /// <summary><c>Main</c> for <c>&lt;Main&gt;b__0_1</c>, <c>&lt;&lt;Main&gt;$&gt;b__0_0</c> (a lambda in top-level statements) and <c>Main</c>.</summary>
    private static string MethodName(MethodInfo method)
    {
        var name = method.Name;
        if (!name.StartsWith('<'))
            return name;
        var start = 0;
        while (start < name.Length && name[start] == '<')
            start++;
        var end = name.IndexOf('>', start);
        return end > start ? name[start..end] : name;
    }

    private static string TypeName(Type type)
    {
        var name = type.FullName ?? type.Name;
        var generic = name.IndexOf('[', StringComparison.Ordinal);
        if (generic >= 0)
            name = name[..generic];
        return name.Replace('+', '.');
    }
}

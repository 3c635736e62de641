using System.Collections.Concurrent;
using System.Reflection;

namespace Busbar.Routing;

/// <summary>Event names: the attribute or convention, validation, and a per-type cache.</summary>
internal static class EventNaming
{
    public const int MaxLength = 256;

    private static readonly ConcurrentDictionary<Type, string> s_names = new();

    public static string GetName(Type type)
    {
        if (s_names.TryGetValue(type, out var name))
            return name;
        return s_names.GetOrAdd(type, static t => Compute(t));
    }

    private static string Compute(Type type)
    {
        var attribute = type.GetCustomAttribute<EventNameAttribute>(inherit: false);
        if (attribute is not null)
        {
            var error = Validate(attribute.Name);
            if (error is not null)
                throw new ArgumentException($"[EventName(\"{attribute.Name}\")] on {type.FullName} is not a valid event name: {error}");
            return attribute.Name;
        }

        if (type.IsGenericType)
            throw new ArgumentException($"Generic event type {type.FullName} needs an [EventName] attribute: the convention (the simple type name) does not apply to generic types.");
        var convention = type.Name;
        var conventionError = Validate(convention);
        if (conventionError is not null)
            throw new ArgumentException($"The conventional name '{convention}' of {type.FullName} is not a valid event name ({conventionError}); add an [EventName] attribute.");
        return convention;
    }

    /// <summary>Returns null when valid, else why not.</summary>
    public static string? Validate(string? name)
    {
        if (string.IsNullOrEmpty(name))
            return "the name is empty";
        if (name.Length > MaxLength)
            return $"the name is longer than {MaxLength} characters";
        var segmentLength = 0;
        foreach (var c in name)
        {
            if (c == '.')
            {
                if (segmentLength == 0)
                    return "a segment is empty (names are non-empty segments separated by '.')";
                segmentLength = 0;
                continue;
            }

            if (!IsNameChar(c))
                return $"the character '{c}' is not allowed (letters, digits, '_' and '-' only)";
            segmentLength++;
        }

        return segmentLength == 0 ? "a segment is empty (names are non-empty segments separated by '.')" : null;
    }

    public static void ThrowIfInvalid(string name, string paramName)
    {
        var error = Validate(name);
        if (error is not null)
            throw new ArgumentException($"'{name}' is not a valid event name: {error}.", paramName);
    }

    internal static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_' || c == '-';
}

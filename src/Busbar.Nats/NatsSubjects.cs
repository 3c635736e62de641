using System.Security.Cryptography;
using System.Text;
using Busbar.Transport;

namespace Busbar.Nats;

/// <summary>The mapping between event names and patterns and NATS subjects, filters and consumer names.</summary>
internal static class NatsSubjects
{
    /// <summary>Whether <paramref name="name"/> is an event name: dotted, non-empty segments of letters, digits, '_' and '-' (valid subject tokens).</summary>
    public static bool IsValidName(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 255 || name[0] == '.' || name[^1] == '.')
            return false;
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (c == '.' ? name[i - 1] == '.' : !(char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
                return false;
        }

        return true;
    }

    /// <summary>The subject of an event name: <c>{prefix}.{name}</c>.</summary>
    public static string Subject(string prefix, string name) => prefix + "." + name;

    /// <summary>The event name of a subject under <paramref name="prefix"/>, or null when it is not one.</summary>
    public static string? Name(string prefix, string subject) =>
        subject.Length > prefix.Length + 1 && subject.StartsWith(prefix, StringComparison.Ordinal) && subject[prefix.Length] == '.'
            ? subject[(prefix.Length + 1)..]
            : null;

    /// <summary>
    /// The filter subject of a bus pattern: segments stay, <c>*</c> stays <c>*</c>, a trailing <c>**</c> becomes <c>&gt;</c>,
    /// and <c>*</c> or <c>**</c> alone (every event) become <c>{prefix}.&gt;</c>.
    /// </summary>
    public static string Filter(string prefix, string pattern)
    {
        _ = EventNamePattern.Parse(pattern);
        if (pattern is "*" or "**")
            return prefix + ".>";
        return pattern.EndsWith(".**", StringComparison.Ordinal)
            ? prefix + "." + pattern[..^2] + ">"
            : prefix + "." + pattern;
    }

    /// <summary>Whether some subject matches both filters (a server 2.10+ refuses overlapping filters on one consumer).</summary>
    public static bool Overlap(string a, string b) => Overlap(a.Split('.'), 0, b.Split('.'), 0);

    /// <summary>
    /// A durable consumer name: the group (dots, which names may not contain, as '_') and a hash of the group and its
    /// filter subjects, so one group's consumers differ per filter set and never collide with another group's.
    /// </summary>
    public static string ConsumerName(string group, IReadOnlyList<string> filters)
    {
        var text = group + "\n" + string.Join('\n', filters);
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..12];
        var safe = group.Replace('.', '_');
        if (safe.Length > 64)
            safe = safe[..64];
        return safe + "_" + hash;
    }

    private static bool Overlap(string[] a, int i, string[] b, int j)
    {
        while (true)
        {
            if (i == a.Length || j == b.Length)
                return i == a.Length && j == b.Length;
            if (a[i] == ">" || b[j] == ">")
                return true;
            if (a[i] != "*" && b[j] != "*" && a[i] != b[j])
                return false;
            i++;
            j++;
        }
    }
}

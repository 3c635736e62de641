namespace Busbar.Routing;

/// <summary>
/// A compiled subscription pattern: literal segments, <c>*</c> for exactly one segment, and a
/// trailing <c>**</c> for one or more segments. The pattern <c>*</c> alone matches every event.
/// </summary>
internal sealed class TopicPattern
{
    private TopicPattern(string text, string[] segments, bool matchesAll, bool trailingMulti)
    {
        Text = text;
        Segments = segments;
        MatchesAll = matchesAll;
        TrailingMulti = trailingMulti;
    }

    public string Text { get; }

    /// <summary>The segments before any trailing <c>**</c>.</summary>
    public string[] Segments { get; }

    public bool MatchesAll { get; }

    public bool TrailingMulti { get; }

    public static TopicPattern Parse(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        if (pattern == "*")
            return new TopicPattern(pattern, [], matchesAll: true, trailingMulti: false);
        if (pattern.Length == 0)
            throw Invalid(pattern, "it is empty");
        if (pattern.Length > EventNaming.MaxLength)
            throw Invalid(pattern, $"it is longer than {EventNaming.MaxLength} characters");

        var parts = pattern.Split('.');
        var trailingMulti = false;
        for (var i = 0; i < parts.Length; i++)
        {
            var part = parts[i];
            if (part.Length == 0)
                throw Invalid(pattern, "a segment is empty");
            if (part == "**")
            {
                if (i != parts.Length - 1)
                    throw Invalid(pattern, "'**' may only be the last segment");
                trailingMulti = true;
                continue;
            }

            if (part == "*")
                continue;
            foreach (var c in part)
            {
                if (!EventNaming.IsNameChar(c))
                    throw Invalid(pattern, c == '*' ? "'*' must be a whole segment" : $"the character '{c}' is not allowed");
            }
        }

        if (trailingMulti && parts.Length == 1)
            return new TopicPattern(pattern, [], matchesAll: true, trailingMulti: true);
        var segments = trailingMulti ? parts[..^1] : parts;
        return new TopicPattern(pattern, segments, matchesAll: false, trailingMulti);
    }

    public bool Matches(string name)
    {
        if (MatchesAll)
            return true;
        var index = 0;
        foreach (var segment in Segments)
        {
            if (index > name.Length)
                return false;
            var end = name.IndexOf('.', index);
            var length = (end < 0 ? name.Length : end) - index;
            if (length <= 0)
                return false;
            if (segment != "*" && !name.AsSpan(index, length).SequenceEqual(segment))
                return false;
            index += length + 1;
        }

        // index is now one past the separator after the last matched segment.
        var consumedAll = index > name.Length;
        return TrailingMulti ? !consumedAll : consumedAll;
    }

    private static ArgumentException Invalid(string pattern, string why) =>
        new($"'{pattern}' is not a valid subscription pattern: {why}. Patterns are dotted segments; '*' matches one segment, a trailing '**' one or more, and '*' alone every event.", nameof(pattern));
}

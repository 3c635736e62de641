using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;

namespace Busbar.Cli;

/// <summary>
/// Parsers for option values that report a bad value as one readable parse error naming the option
/// (exit 2), never as a type name or an exception from reading the value later.
/// </summary>
internal static class OptionValues
{
    private static readonly string[] s_isoFormats =
    [
        "yyyy-MM-dd", "yyyy-MM-ddK",
        "yyyy-MM-ddTHH:mmK", "yyyy-MM-ddTHH:mm:ssK", "yyyy-MM-ddTHH:mm:ss.FFFFFFFK",
    ];

    /// <summary>A whole number from 1 to <typeparamref name="T"/>'s maximum.</summary>
    public static T? Positive<T>(ArgumentResult result)
        where T : struct, IBinaryInteger<T>, IMinMaxValue<T>
    {
        var text = Single(result);
        if (T.TryParse(text, NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite, CultureInfo.InvariantCulture, out var value) && value >= T.One)
            return value;
        result.AddError(Invariant($"{NameOf(result)} '{text}' is not a whole number from 1 to {T.MaxValue}."));
        return null;
    }

    /// <summary>A whole number, negative or not, within <see cref="int"/> (an event priority).</summary>
    public static int? Integer(ArgumentResult result)
    {
        var text = Single(result);
        if (int.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite, CultureInfo.InvariantCulture, out var value))
            return value;
        result.AddError(Invariant($"{NameOf(result)} '{text}' is not a whole number from {int.MinValue} to {int.MaxValue}."));
        return null;
    }

    /// <summary>One or more ids, each a GUID as <c>busbar wal dead-letters</c> prints them.</summary>
    public static Guid[] Ids(ArgumentResult result)
    {
        var ids = new Guid[result.Tokens.Count];
        for (var i = 0; i < ids.Length; i++)
        {
            var text = result.Tokens[i].Value;
            if (!Guid.TryParse(text, CultureInfo.InvariantCulture, out ids[i]))
            {
                result.AddError($"{NameOf(result)} '{text}' is not a dead letter id (a GUID such as {Guid.Empty}, as 'busbar wal dead-letters' prints them).");
                return [];
            }
        }

        return ids;
    }

    /// <summary>A GUID, e.g. a correlation id.</summary>
    public static Guid? GuidValue(ArgumentResult result)
    {
        var text = Single(result);
        if (System.Guid.TryParse(text, CultureInfo.InvariantCulture, out var value))
            return value;
        result.AddError($"{NameOf(result)} '{text}' is not a GUID (such as {System.Guid.Empty}).");
        return null;
    }

    /// <summary>One or more broker dead letter ids (a Redis entry id, a NATS sequence number): not empty, no spaces.</summary>
    public static string[] BrokerIds(ArgumentResult result)
    {
        var ids = new string[result.Tokens.Count];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = result.Tokens[i].Value;
            if (ids[i].Length == 0 || ids[i].Length > 200 || ids[i].Any(char.IsWhiteSpace))
            {
                result.AddError($"{NameOf(result)} '{ids[i]}' is not a dead letter id (as 'busbar dead-letters <url>' prints them, e.g. 1764495001234-0 for Redis, 17 for NATS).");
                return [];
            }
        }

        return ids;
    }

    /// <summary>Text that is not empty or blank, such as a subscription name or an exception type.</summary>
    public static string Text(ArgumentResult result)
    {
        var text = Single(result);
        if (string.IsNullOrWhiteSpace(text) || text.Length > 1000)
        {
            result.AddError($"{NameOf(result)} '{text}' is empty or blank; give a name, or leave the option out to match every value.");
            return "";
        }

        return text;
    }

    /// <summary>An event name or a subscription pattern (<c>orders.placed</c>, <c>orders.*</c>, <c>orders.**</c>).</summary>
    public static string EventPattern(ArgumentResult result)
    {
        var text = Single(result);
        try
        {
            Busbar.Routing.TopicPattern.Parse(text);
            return text;
        }
        catch (ArgumentException ex)
        {
            // The pattern's own message, without the parameter name .NET appends.
            var reason = ex.Message.Split(" (Parameter", 2)[0];
            result.AddError($"{NameOf(result)}: {reason}");
            return "";
        }
    }

    /// <summary>An ISO-8601 date or date and time (<c>2026-11-30</c>, <c>2026-11-30T12:00:00Z</c>, <c>2026-11-30T13:00+01:00</c>); UTC when it has no offset.</summary>
    public static DateTimeOffset? Timestamp(ArgumentResult result)
    {
        var text = Single(result).Trim();
        if (DateTimeOffset.TryParseExact(text, s_isoFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var value))
            return value;
        result.AddError($"{NameOf(result)} '{text}' is not an ISO-8601 time (such as 2026-11-30, 2026-11-30T12:00:00Z or 2026-11-30T13:00+01:00).");
        return null;
    }

    /// <summary>A path that is not empty; whether it exists is the command's business.</summary>
    public static string Path(ArgumentResult result)
    {
        var text = Single(result);
        if (string.IsNullOrWhiteSpace(text) || text.IndexOfAny(System.IO.Path.GetInvalidPathChars()) >= 0)
        {
            result.AddError($"{NameOf(result)} '{text}' is not a directory path.");
            return "";
        }

        return text;
    }

    /// <summary>The option or argument as the user spells it: <c>--rate</c>, or <c>&lt;dir&gt;</c>.</summary>
    private static string NameOf(ArgumentResult result) => result.Parent switch
    {
        OptionResult option => option.Option.Name,
        _ => "<" + result.Argument.Name + ">",
    };

    private static string Single(ArgumentResult result) => result.Tokens.Count == 1 ? result.Tokens[0].Value : "";

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}

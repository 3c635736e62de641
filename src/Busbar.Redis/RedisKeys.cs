using StackExchange.Redis;

namespace Busbar.Redis;

/// <summary>
/// The key layout under the prefix. Streams carry no hash tag, so in Redis Cluster each event name's stream lives
/// in its own slot and the load spreads; the names set and the dead-letter stream are single keys.
/// </summary>
internal sealed class RedisKeys(string prefix)
{
    public const string EnvelopeField = "envelope";

    public RedisKey Names { get; } = prefix + "names";

    public RedisKey DeadLetters { get; } = prefix + "dead-letters";

    public RedisChannel Doorbell { get; } = RedisChannel.Literal(prefix + "doorbell");

    public RedisKey Stream(string name) => prefix + "stream:" + name;

    /// <summary>A stream name may come from the wire (the names set): only names that are valid event names become keys.</summary>
    public static bool IsValidName(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 256 || name[0] == '.' || name[^1] == '.')
            return false;
        var previousDot = false;
        foreach (var c in name)
        {
            if (c == '.')
            {
                if (previousDot)
                    return false;
                previousDot = true;
                continue;
            }

            previousDot = false;
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('_' or '-'))
                return false;
        }

        return true;
    }
}

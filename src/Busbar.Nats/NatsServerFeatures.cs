namespace Busbar.Nats;

/// <summary>What the connected server supports, read from its version at connect; newer requests are never sent to an older server.</summary>
internal sealed record NatsServerFeatures(Version Version)
{
    /// <summary>The oldest server the transport runs on: JetStream pull consumers, NAK with delay, the filtered consumer-create subject (2.9).</summary>
    public static readonly Version Minimum = new(2, 9);

    /// <summary>Several filter subjects on one consumer (<c>filter_subjects</c>), since 2.10.</summary>
    public bool MultipleFilterSubjects => Version >= new Version(2, 10);

    /// <summary>The consumer-create <c>action</c> (create only, never update), since 2.10; 2.9 ignores it, so the transport compares itself.</summary>
    public bool CreateAction => Version >= new Version(2, 10);

    public static Version Parse(string? text)
    {
        if (string.IsNullOrEmpty(text))
            return new Version(0, 0);
        var end = 0;
        while (end < text.Length && (char.IsAsciiDigit(text[end]) || text[end] == '.'))
            end++;
        return Version.TryParse(text.AsSpan(0, end), out var version) ? version : new Version(0, 0);
    }
}

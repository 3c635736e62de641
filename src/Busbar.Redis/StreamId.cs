using System.Globalization;

namespace Busbar.Redis;

/// <summary>A Redis stream entry id (<c>ms-seq</c>), ordered as Redis orders them.</summary>
internal readonly record struct StreamId(ulong Milliseconds, ulong Sequence) : IComparable<StreamId>
{
    public static readonly StreamId Zero = new(0, 0);

    public static bool TryParse(string? text, out StreamId id)
    {
        id = Zero;
        if (string.IsNullOrEmpty(text))
            return false;
        var dash = text.IndexOf('-', StringComparison.Ordinal);
        if (dash < 0)
            return ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var onlyMs) && Set(onlyMs, 0, out id);
        return ulong.TryParse(text.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
            && ulong.TryParse(text.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var seq)
            && Set(ms, seq, out id);
    }

    public int CompareTo(StreamId other)
    {
        var byMs = Milliseconds.CompareTo(other.Milliseconds);
        return byMs != 0 ? byMs : Sequence.CompareTo(other.Sequence);
    }

    public static StreamId Min(StreamId a, StreamId b) => a.CompareTo(b) <= 0 ? a : b;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Milliseconds}-{Sequence}");

    private static bool Set(ulong ms, ulong seq, out StreamId id)
    {
        id = new StreamId(ms, seq);
        return true;
    }
}

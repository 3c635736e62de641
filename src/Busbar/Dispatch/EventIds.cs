namespace Busbar.Dispatch;

/// <summary>
/// UUIDv7 generation (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits. Event ids need
/// uniqueness and time order, not unpredictability, so the random bits come from
/// <see cref="Random.Shared"/> rather than the OS generator that <see cref="Guid.CreateVersion7()"/>
/// calls — on some virtual machines that is a system call of half a microsecond per id.
/// </summary>
internal static class EventIds
{
    public static Guid Create(DateTimeOffset timestamp)
    {
        var millis = (ulong)timestamp.ToUnixTimeMilliseconds();
        var random = Random.Shared;
        var high = ((millis & 0xFFFF_FFFF_FFFFUL) << 16) | 0x7000UL | ((ulong)random.Next() & 0x0FFFUL);
        var low = ((ulong)random.NextInt64() & 0x3FFF_FFFF_FFFF_FFFFUL) | 0x8000_0000_0000_0000UL;

        // The fields of the big-endian layout (48-bit time first), built from the two halves without a byte buffer.
        return new Guid(
            (uint)(high >> 32),
            (ushort)(high >> 16),
            (ushort)high,
            (byte)(low >> 56),
            (byte)(low >> 48),
            (byte)(low >> 40),
            (byte)(low >> 32),
            (byte)(low >> 24),
            (byte)(low >> 16),
            (byte)(low >> 8),
            (byte)low);
    }
}

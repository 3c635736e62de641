using System.Buffers;

namespace Busbar.Durability;

/// <summary>
/// The group-commit unit: frames appended since the last flush, which segment each run of bytes belongs to,
/// segments to delete once the bytes are durable, and the one completion all of its appenders await.
/// </summary>
internal sealed class WalBatch
{
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);

    public WalBatch() => Completion = NewCompletion();

    public int Length { get; private set; }

    public ReadOnlySpan<byte> Bytes => _buffer.AsSpan(0, Length);

    /// <summary>Runs of bytes by segment, in order: (segment sequence, start offset in <see cref="Bytes"/>).</summary>
    public List<(WalSegment Segment, int Start)> Chunks { get; } = [];

    public List<WalSegment> Deletions { get; } = [];

    /// <summary>
    /// The batch holds a record whose loss would lose an acknowledged fact (an event, a dead letter,
    /// a re-drive). A batch of handler-finished records alone is written without an fsync under
    /// <see cref="WalFlushMode.Always"/>: losing one only means a redelivery, and the next synced
    /// batch makes it durable anyway.
    /// </summary>
    public bool NeedsSync { get; set; }

    /// <summary>The batch holds a record handed over by <see cref="WriteAheadLog.Post"/>, which nobody awaits: a failure to write it is logged.</summary>
    public bool HasPosted { get; set; }

    public TaskCompletionSource Completion { get; private set; }

    public bool HasWork => Length > 0 || Deletions.Count > 0;

    public Span<byte> Append(WalSegment segment, int length)
    {
        if (Length + length > _buffer.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, Length + length));
            _buffer.AsSpan(0, Length).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        if (Chunks.Count == 0 || Chunks[^1].Segment != segment)
        {
            Chunks.Add((segment, Length));
        }

        var span = _buffer.AsSpan(Length, length);
        Length += length;
        return span;
    }

    /// <summary>Readies a flushed batch for reuse; a batch that grew for one huge record gives the memory back.</summary>
    public void Reset()
    {
        Length = 0;
        Chunks.Clear();
        Deletions.Clear();
        NeedsSync = false;
        HasPosted = false;
        Completion = NewCompletion();
        if (_buffer.Length > 4 * 1024 * 1024)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        }
    }

    private static TaskCompletionSource NewCompletion() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}

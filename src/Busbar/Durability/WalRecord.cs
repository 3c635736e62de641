namespace Busbar.Durability;

/// <summary>A record of the write-ahead log; one subclass per <see cref="WalRecordType"/>.</summary>
internal abstract record WalRecord
{
    public abstract WalRecordType Type { get; }
}

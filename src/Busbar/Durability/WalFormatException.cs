namespace Busbar.Durability;

/// <summary>A record body that passed its checksum but could not be decoded.</summary>
internal sealed class WalFormatException : Exception
{
    public WalFormatException()
    {
    }

    public WalFormatException(string message)
        : base(message)
    {
    }

    public WalFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

namespace Busbar.Cli;

/// <summary>A problem the user can fix (a missing directory, a locked log): printed as one line, exit code 1, no stack trace.</summary>
internal sealed class UserErrorException : Exception
{
    public UserErrorException()
    {
    }

    public UserErrorException(string message)
        : base(message)
    {
    }

    public UserErrorException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

namespace Busbar;

/// <summary>When an event counts as handled.</summary>
public enum CompletionMode
{
    /// <summary>When every matching handler has finished.</summary>
    All,

    /// <summary>
    /// On the first handler that succeeds; handlers still running are cancelled through their
    /// tokens and handlers not yet started are skipped.
    /// </summary>
    First,
}

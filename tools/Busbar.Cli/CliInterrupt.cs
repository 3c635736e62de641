namespace Busbar.Cli;

/// <summary>
/// Ctrl+C and SIGTERM for a command: the first asks for a graceful stop (<see cref="Token"/>); the
/// second forces the exit, after the running command has restored the terminal and said what it
/// leaves behind.
/// </summary>
internal sealed class CliInterrupt : IDisposable
{
    /// <summary>The exit code of a run forced by a second Ctrl+C (128 + SIGINT, as shells report it).</summary>
    public const int ForcedBySigint = 130;

    /// <summary>The exit code of a run forced by a second SIGTERM (128 + SIGTERM).</summary>
    public const int ForcedBySigterm = 143;

    private readonly CancellationTokenSource _graceful = new();
    private readonly Lock _gate = new();
    private string? _signal;
    private Func<string>? _onForced;
    private bool _forced;

    /// <summary>Fires on the first Ctrl+C or SIGTERM.</summary>
    public CancellationToken Token => _graceful.Token;

    /// <summary>What asked for the stop, as the summary says it: <c>Ctrl+C</c> or <c>SIGTERM</c>; null before.</summary>
    public string? Signal => Volatile.Read(ref _signal);

    /// <summary>How a signal is named to the user.</summary>
    public static string NameOf(bool sigterm) => sigterm ? "SIGTERM" : "Ctrl+C";

    /// <summary>A signal arrived. Returns true when it is the first (a graceful stop begins), false when the run must be forced.</summary>
    /// <param name="signal"><c>Ctrl+C</c> or <c>SIGTERM</c>.</param>
    public bool Request(string signal)
    {
        if (Interlocked.CompareExchange(ref _signal, signal, null) is not null)
            return false;
        _graceful.Cancel();
        return true;
    }

    /// <summary>
    /// Registers what a forced exit must do first: restore the terminal and return the one line that
    /// says what was left undone. Dispose the result when the command no longer needs it.
    /// </summary>
    public IDisposable OnForced(Func<string> restoreAndDescribe)
    {
        lock (_gate)
        {
            _onForced = restoreAndDescribe;
        }

        return new Registration(this, restoreAndDescribe);
    }

    /// <summary>
    /// The second signal: runs the registered restore, and returns the line to print and the exit code.
    /// Only the first call does anything; later ones return null (the process is already on its way out).
    /// </summary>
    public (string Line, int ExitCode)? Force(string signal)
    {
        Func<string>? onForced;
        lock (_gate)
        {
            if (_forced)
                return null;
            _forced = true;
            onForced = _onForced;
        }

        var what = onForced?.Invoke() ?? "nothing was left running";
        var exitCode = signal == NameOf(sigterm: true) ? ForcedBySigterm : ForcedBySigint;
        return ($"busbar: forced exit by a second {signal}: {what}", exitCode);
    }

    public void Dispose() => _graceful.Dispose();

    private sealed class Registration(CliInterrupt owner, Func<string> callback) : IDisposable
    {
        public void Dispose()
        {
            lock (owner._gate)
            {
                if (ReferenceEquals(owner._onForced, callback))
                    owner._onForced = null;
            }
        }
    }
}

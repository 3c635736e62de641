using System.Globalization;

namespace Busbar.CrashHost;

internal sealed record CrashHostSettings
{
    public required string Directory { get; init; }

    public bool RecoverOnly { get; init; }

    public bool Slow { get; init; }

    /// <summary>Open the log, then hold it (and its lock) without publishing until stdin closes or the run limit.</summary>
    public bool Hold { get; init; }

    public int Publishers { get; init; } = 4;

    public long Start { get; init; } = 1;

    public TimeSpan HandlerDelay { get; init; } = TimeSpan.FromMilliseconds(5);

    public TimeSpan MaxRun { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long the recovered events may take to be handled before the host gives up ("X"). Bounded apart from
    /// <see cref="MaxRun"/>: a test thread starved on a loaded machine kills late, and the slow handlers (5 ms, two at a
    /// time) then have thousands of acknowledged events to re-handle; the tests wait 120 s for "R", so this stays below.
    /// </summary>
    public TimeSpan MaxRecovery { get; init; } = TimeSpan.FromSeconds(110);

    public static CrashHostSettings Parse(string[] args)
    {
        if (args.Length == 0 || args[0].StartsWith("--", StringComparison.Ordinal))
            throw new ArgumentException("Usage: Busbar.CrashHost <directory> [--recover-only] [--hold] [--slow] [--publishers N] [--start SEQ] [--max-seconds S]");
        var settings = new CrashHostSettings { Directory = args[0] };
        for (var i = 1; i < args.Length; i++)
        {
            settings = args[i] switch
            {
                "--recover-only" => settings with { RecoverOnly = true },
                "--slow" => settings with { Slow = true },
                "--hold" => settings with { Hold = true },
                "--publishers" => settings with { Publishers = int.Parse(Value(args, ++i), CultureInfo.InvariantCulture) },
                "--start" => settings with { Start = long.Parse(Value(args, ++i), CultureInfo.InvariantCulture) },
                "--max-seconds" => settings with { MaxRun = TimeSpan.FromSeconds(int.Parse(Value(args, ++i), CultureInfo.InvariantCulture)) },
                _ => throw new ArgumentException($"Unknown argument '{args[i]}'."),
            };
        }

        return settings;
    }

    private static string Value(string[] args, int i) =>
        i < args.Length ? args[i] : throw new ArgumentException($"Missing value after '{args[i - 1]}'.");
}

using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Busbar.Cli.Broker;
using Busbar.Cli.Distributed;

namespace Busbar.Cli.Demo;

/// <summary>The <c>busbar demo</c> command line: options, their validation, and the mapping to <see cref="DemoRequest"/>.</summary>
internal static class DemoCommand
{
    public static Command Create(CliConsole io, CliInterrupt interrupt)
    {
        var duration = new Option<TimeSpan?>("--duration", "-d")
        {
            Description = "Total run time, shutdown included: 10, 10s, 1500ms or 1m; with --transport, how long orders are published. [default: 10s, or enough for --events]",
            HelpName = "time",
            CustomParser = ParseDuration,
        };
        var events = new Option<long?>("--events", "-n")
        {
            Description = "Stop after this many orders, bursts included. [default: no limit]",
            HelpName = "count",
            CustomParser = OptionValues.Positive<long>,
        };
        var rate = new Option<int?>("--rate", "-r")
        {
            Description = "Steady orders per second between bursts. [default: 40% of the handler throughput measured at start; 200 with --transport]",
            HelpName = "per-second",
            CustomParser = OptionValues.Positive<int>,
        };
        var capacity = new Option<int?>("--capacity", "-c")
        {
            Description = "Bus queue capacity; each of the 3 bursts publishes twice this many orders at once. [default: sized to the measured throughput]",
            HelpName = "events",
            CustomParser = OptionValues.Positive<int>,
        };
        var fullMode = new Option<BusFullMode?>("--full-mode", "-m")
        {
            Description = "What a publish does when the queue is full: wait, reject, drop-newest or drop-oldest. [default: wait]",
            CustomParser = ParseFullMode,
            HelpName = "mode",
        };
        fullMode.CompletionSources.Add("wait", "reject", "drop-newest", "drop-oldest");
        var concurrency = new Option<int?>("--concurrency")
        {
            Description = "Events handled at the same time. [default: 4]",
            HelpName = "events",
            CustomParser = OptionValues.Positive<int>,
        };
        var wal = new Option<string?>("--wal")
        {
            Description = "Write-ahead log directory, kept after the run. [default: a temporary directory, removed after the run]",
            HelpName = "dir",
            CustomParser = OptionValues.Path,
        };
        var flush = new Option<WalFlushMode?>("--flush")
        {
            Description = "When a publish to the write-ahead log completes: always (after fsync), interval (fsync every 100 ms) or none. [default: always]",
            CustomParser = ParseFlushMode,
            HelpName = "mode",
        };
        flush.CompletionSources.Add("always", "interval", "none");
        var noLive = new Option<bool>("--no-live") { Description = "Plain line output instead of the live view (automatic when output is not a terminal)." };
        var transport = new Option<BrokerUrl?>("--transport", "-t")
        {
            Description = "Run distributed: publish through this broker (redis://host[:port] or nats://host[:port]) and handle in worker processes.",
            HelpName = "url",
            CustomParser = ParseTransport,
        };
        var workers = new Option<int?>("--workers", "-w")
        {
            Description = Invariant($"Worker processes that handle the orders, 1 to {DistributedRequest.MaxWorkers}; needs --transport. [default: 2]"),
            HelpName = "n",
            CustomParser = ParseWorkers,
        };
        var killAfter = new Option<TimeSpan?>("--kill-worker-after")
        {
            Description = "Kill one worker with SIGKILL this long after publishing starts (e.g. 3s); its events go to the others. Needs --transport and 2 or more workers.",
            HelpName = "time",
            CustomParser = ParseKillAfter,
        };
        var json = new Option<bool>("--json") { Description = "With --transport: print the summary as one JSON document (and no progress)." };

        var command = new Command("demo", "Run an order pipeline on an embedded bus with a live view, then shut down gracefully and print a summary. With --transport, the bus runs on Redis or NATS and its handlers in worker processes.")
        {
            duration, events, rate, capacity, fullMode, concurrency, wal, flush, noLive, transport, workers, killAfter, json,
        };
        command.Validators.Add(result =>
        {
            // Presence only (and raw tokens): a malformed value has its own error, and reading it here would throw.
            if (result.GetResult(transport) is not { Implicit: false })
            {
                foreach (var needsTransport in new Option[] { workers, killAfter, json })
                {
                    if (result.GetResult(needsTransport) is { Implicit: false })
                    {
                        result.AddError($"{needsTransport.Name} needs --transport (a redis:// or nats:// broker): it applies to the distributed demo only.");
                        return;
                    }
                }

                return;
            }

            foreach (var embeddedOnly in new Option[] { capacity, fullMode, wal, flush })
            {
                if (result.GetResult(embeddedOnly) is { Implicit: false })
                {
                    result.AddError($"{embeddedOnly.Name} applies to the embedded demo only; with --transport the broker holds the events (leave out {embeddedOnly.Name}).");
                    return;
                }
            }

            var workerCount = result.GetResult(workers) is { Tokens: [var token] } && int.TryParse(token.Value, CultureInfo.InvariantCulture, out var n) ? n : 2;
            if (result.GetResult(killAfter) is { Implicit: false } && workerCount == 1)
                result.AddError("--kill-worker-after needs --workers 2 or more: the workers left alive handle what the killed one held.");
        });
        command.SetAction((result, _) =>
        {
            if (result.GetValue(transport) is { } broker)
            {
                var maxOrders = result.GetValue(events);
                var perSecond = result.GetValue(rate) ?? DistributedRequest.DefaultRate;
                return DistributedRunner.RunAsync(
                    new DistributedRequest
                    {
                        Broker = broker,
                        Workers = result.GetValue(workers) ?? 2,
                        KillWorkerAfter = result.GetValue(killAfter),
                        MaxOrders = maxOrders,
                        Rate = perSecond,
                        PublishWindow = result.GetValue(duration)
                            ?? (maxOrders is { } n ? TimeSpan.FromSeconds(Math.Min(86_400, (double)n / perSecond + 1)) : TimeSpan.FromSeconds(10)),
                        Concurrency = result.GetValue(concurrency) ?? 4,
                        Json = result.GetValue(json),
                        NoLive = result.GetValue(noLive),
                    },
                    io,
                    interrupt);
            }

            var request = new DemoRequest
            {
                Duration = result.GetValue(duration),
                MaxOrders = result.GetValue(events),
                Rate = result.GetValue(rate),
                Capacity = result.GetValue(capacity),
                FullMode = result.GetValue(fullMode) ?? BusFullMode.Wait,
                Concurrency = result.GetValue(concurrency) ?? 4,
                WalDirectory = result.GetValue(wal),
                FlushMode = result.GetValue(flush) ?? WalFlushMode.Always,
                NoLive = result.GetValue(noLive),
            };
            return DemoRunner.RunAsync(request, io, interrupt);
        });
        return command;
    }

    private static TimeSpan? ParseDuration(ArgumentResult result)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value.Trim() : "";
        if (Seconds(text) is { } seconds && seconds is >= 0.5 and <= 86_400)
            return TimeSpan.FromSeconds(seconds);
        result.AddError($"--duration '{text}' is not a time from 500ms to 24h, such as 10, 10s, 1500ms or 1m.");
        return null;
    }

    private static TimeSpan? ParseKillAfter(ArgumentResult result)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value.Trim() : "";
        if (Seconds(text) is { } seconds && seconds is >= 0.1 and <= 86_400)
            return TimeSpan.FromSeconds(seconds);
        result.AddError($"--kill-worker-after '{text}' is not a time from 100ms to 24h, such as 3s, 1500ms or 1m.");
        return null;
    }

    /// <summary>A time as the options take it: <c>10</c> (seconds), <c>10s</c>, <c>1500ms</c>, <c>1m</c>; null when it is not one.</summary>
    private static double? Seconds(string text)
    {
        var (number, unit) = text.EndsWith("ms", StringComparison.OrdinalIgnoreCase) ? (text[..^2], 0.001)
            : text.EndsWith('s') || text.EndsWith('S') ? (text[..^1], 1.0)
            : text.EndsWith('m') || text.EndsWith('M') ? (text[..^1], 60.0)
            : (text, 1.0);
        return double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value * unit) ? value * unit : null;
    }

    private static int? ParseWorkers(ArgumentResult result)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
        if (int.TryParse(text, NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite, CultureInfo.InvariantCulture, out var value) && value is >= 1 and <= DistributedRequest.MaxWorkers)
            return value;
        result.AddError(Invariant($"--workers '{text}' is not a whole number from 1 to {DistributedRequest.MaxWorkers}."));
        return null;
    }

    private static BrokerUrl? ParseTransport(ArgumentResult result)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
        if (BrokerUrl.TryParse(text, out var url, out var error))
            return url;
        result.AddError($"--transport '{text}' {error}");
        return null;
    }

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);

    private static WalFlushMode? ParseFlushMode(ArgumentResult result)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
        switch (text.ToUpperInvariant())
        {
            case "ALWAYS": return WalFlushMode.Always;
            case "INTERVAL": return WalFlushMode.Interval;
            case "NONE": return WalFlushMode.None;
            default:
                result.AddError($"--flush '{text}' is not one of always, interval, none.");
                return null;
        }
    }

    private static BusFullMode? ParseFullMode(ArgumentResult result)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
        switch (text.Replace("-", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal).ToUpperInvariant())
        {
            case "WAIT": return BusFullMode.Wait;
            case "REJECT": return BusFullMode.Reject;
            case "DROPNEWEST": return BusFullMode.DropNewest;
            case "DROPOLDEST": return BusFullMode.DropOldest;
            default:
                result.AddError($"--full-mode '{text}' is not one of wait, reject, drop-newest, drop-oldest.");
                return null;
        }
    }

    /// <summary>The spelling the options accept, for output: <c>drop-oldest</c>, not <c>DropOldest</c>.</summary>
    public static string Spelling(BusFullMode mode) => mode switch
    {
        BusFullMode.Wait => "wait",
        BusFullMode.Reject => "reject",
        BusFullMode.DropNewest => "drop-newest",
        _ => "drop-oldest",
    };

    /// <inheritdoc cref="Spelling(BusFullMode)"/>
    public static string Spelling(WalFlushMode mode) => mode switch
    {
        WalFlushMode.Always => "always",
        WalFlushMode.Interval => "interval",
        _ => "none",
    };
}
